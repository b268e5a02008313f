"""Times every request and counts those in flight, natively in both sync and async stacks.

Not a ``MiddlewareMixin``: under ASGI, Django runs a mixin's hooks through ``sync_to_async``,
two thread hops a request. This class is sync- and async-capable, so Django calls ``__call__``
in a WSGI stack and ``__acall__`` on the event loop's thread in an ASGI stack.

It knows no view: the route label is read from ``request.resolver_match`` after the view ran.
"""

import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from . import conf, instruments, names


class MetricsMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        self.excluded_paths = conf.excluded_paths()

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        if request.path_info in self.excluded_paths:
            return self.get_response(request)
        method = instruments.method_label(request.method)
        active = instruments.active_requests(method)
        active.inc()
        started = time.perf_counter()
        try:
            # Django turns a view's exception into a 500 response inside get_response, so the
            # request is counted with the status the client receives.
            response = self.get_response(request)
        finally:
            active.dec()
        _observe(request, method, response.status_code, time.perf_counter() - started)
        return response

    async def __acall__(self, request):
        if request.path_info in self.excluded_paths:
            return await self.get_response(request)
        method = instruments.method_label(request.method)
        active = instruments.active_requests(method)
        active.inc()
        started = time.perf_counter()
        try:
            response = await self.get_response(request)
        finally:
            active.dec()
        _observe(request, method, response.status_code, time.perf_counter() - started)
        return response


def _observe(request, method: str, status: int, seconds: float) -> None:
    match = request.resolver_match
    route = "/" + match.route if match is not None else names.UNMATCHED_ROUTE
    instruments.observe_server_request(route, method, status, seconds)
