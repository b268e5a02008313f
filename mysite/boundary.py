"""The app's front door: a request with a Host not in ALLOWED_HOSTS, or one that carries a body,
is refused with a JSON error before any view or ``/metrics`` runs.

Listed just inside the metrics middleware, so a refused request is timed and counted like any
other client error. Native in both stacks (no ``MiddlewareMixin`` thread hops). Under ASGI a
body is refused earlier still, in ``mysite.http_limits``, before Django reads it; under WSGI
nothing reads it before this middleware, so refusing here stores nothing either.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, JsonResponse

from mysite.http_limits import BAD_HOST, BODY_REFUSED, carries_body, security_logger


def body_refused() -> JsonResponse:
    # The connection is closed after the answer, so the server does not read the unread body
    # (to drain it for the next request). gunicorn drops this header, and closes on its
    # pre_request hook instead (mysite.http_limits.close_when_body).
    response = JsonResponse({"error": BODY_REFUSED}, status=413)
    response["Connection"] = "close"
    return response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """``handler400``: the 400s Django raises itself (too many query fields, a bad Host ...)
    in the contract's JSON, not Django's HTML page."""
    return JsonResponse({"error": "bad request"}, status=400)


def _refusal(request: HttpRequest) -> JsonResponse | None:
    meta = request.META
    if carries_body(meta.get("CONTENT_LENGTH"), meta.get("HTTP_TRANSFER_ENCODING")):
        return body_refused()
    try:
        request.get_host()
    except DisallowedHost as exc:
        security_logger.warning("%s", exc)
        return JsonResponse({"error": BAD_HOST}, status=400)
    return None


class BoundaryMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        return _refusal(request) or self.get_response(request)

    async def __acall__(self, request):
        return _refusal(request) or await self.get_response(request)
