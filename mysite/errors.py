"""The errors Django answers itself, in the contract's JSON ``{"error": ...}``, never its HTML page.

``mysite.urls`` names them as Django's handlers (the 400 handler is ``mysite.boundary``'s);
``require_safe`` is Django's, with its empty ``text/html`` 405 replaced by ``method_not_allowed``.
"""

import functools

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, JsonResponse

SAFE_METHODS = ("GET", "HEAD")


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"error": "no such path"}, status=404)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"error": "forbidden"}, status=403)


def server_error(request: HttpRequest) -> JsonResponse:
    # Never the result of client input (tests/reliability/test_hostile_input.py), yet JSON too.
    return JsonResponse({"error": "internal server error"}, status=500)


def method_not_allowed(allowed: tuple[str, ...] = SAFE_METHODS) -> JsonResponse:
    response = JsonResponse({"error": f"method not allowed: use {', '.join(allowed)}"}, status=405)
    response["Allow"] = ", ".join(allowed)
    return response


def require_safe(view):
    """GET and HEAD only, as Django's ``require_safe``, with the 405 in the contract's JSON."""
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_safe(request: HttpRequest, *args, **kwargs):
            if request.method not in SAFE_METHODS:
                return method_not_allowed()
            return await view(request, *args, **kwargs)

        return async_safe

    @functools.wraps(view)
    def safe(request: HttpRequest, *args, **kwargs):
        if request.method not in SAFE_METHODS:
            return method_not_allowed()
        return view(request, *args, **kwargs)

    return safe
