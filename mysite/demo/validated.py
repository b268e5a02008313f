"""A view decorator that hands the view its query already parsed, or answers 400 with the reason.

One for every view of the lab (the demo's and the database's), each with its own parser.
"""

import functools
from collections.abc import Callable
from inspect import iscoroutinefunction

from django.http import HttpRequest, JsonResponse, QueryDict

from mysite.errors import require_safe

from .params import ParameterError, query_of


def with_query(parse: Callable[[QueryDict], object]):
    """``view(request, p)`` gets ``parse(query)``; a ParameterError is a 400 with its message.

    Keeps the view sync or async as written, so Django adapts nothing; GET and HEAD only.
    """

    def decorate(view):
        def parsed(request: HttpRequest):
            try:
                return parse(query_of(request))
            except ParameterError as error:
                return JsonResponse({"error": str(error)}, status=400)

        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(request: HttpRequest) -> JsonResponse:
                p = parsed(request)
                return p if isinstance(p, JsonResponse) else await view(request, p)

            return require_safe(async_wrapper)

        @functools.wraps(view)
        def sync_wrapper(request: HttpRequest) -> JsonResponse:
            p = parsed(request)
            return p if isinstance(p, JsonResponse) else view(request, p)

        return require_safe(sync_wrapper)

    return decorate
