"""The views under test: the same work written sync and async, and the fan-outs.

Each view gets its query already validated (a bad value is a 400 with the reason, never a
500), then does exactly one kind of waiting, so that what the benchmark measures is that kind
of waiting.
"""

import asyncio
import functools
import os
import time
from inspect import iscoroutinefunction

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from . import conf, disconnect, params, selfcall, upstream


def with_params(view):
    """Parse the query into ``Params`` for ``view(request, p)``; answer 400 when it is bad.

    Keeps the view sync or async as written, so Django adapts nothing.
    """

    def parsed(request: HttpRequest) -> params.Params | JsonResponse:
        try:
            return params.parse(params.query_of(request))
        except params.ParameterError as error:
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


def _hello(p: params.Params) -> JsonResponse:
    return JsonResponse({"message": "Hello World!", "task_id": p.task_id, "delay": p.delay})


def _fanout_response(result: upstream.FanoutResult) -> JsonResponse:
    return JsonResponse(result.as_json(), status=result.status)


@with_params
def sync_api(request: HttpRequest, p: params.Params) -> JsonResponse:
    """Blocking I/O in a sync view: holds its worker thread for ``delay`` seconds."""
    time.sleep(p.delay)
    return _hello(p)


@with_params
async def async_api(request: HttpRequest, p: params.Params) -> JsonResponse:
    """Non-blocking I/O in an async view: the event loop serves others while it waits."""
    await asyncio.sleep(p.delay)
    return _hello(p)


@with_params
async def async_blocking(request: HttpRequest, p: params.Params) -> JsonResponse:
    """The anti-pattern, kept on purpose: a blocking call inside an async view.

    ``time.sleep`` here stalls the worker's whole event loop, so every other request on that
    worker waits too; the loop-lag metric and the benchmark show what that costs.
    """
    time.sleep(p.delay)  # noqa: ASYNC251  (the point of this view)
    return _hello(p)


@with_params
async def async_aggregated(request: HttpRequest, p: params.Params) -> JsonResponse:
    """``fanout`` upstream calls at once through the worker's shared ``httpx.AsyncClient``."""
    return _fanout_response(await upstream.fetch_concurrently(p.delay, p.fanout))


@with_params
def sync_aggregated(request: HttpRequest, p: params.Params) -> JsonResponse:
    """The same fan-out from a sync view, through a bounded thread pool and a shared client."""
    selfcall.warn_if_calling_itself(request, conf.upstream_url())
    gone = disconnect.watcher(request)
    return _fanout_response(upstream.fetch_in_threads(p.delay, p.fanout, gone))


@with_params
def sync_sequential(request: HttpRequest, p: params.Params) -> JsonResponse:
    """The same calls one after another: the baseline the concurrent versions beat."""
    selfcall.warn_if_calling_itself(request, conf.upstream_url())
    gone = disconnect.watcher(request)
    return _fanout_response(upstream.fetch_sequentially(p.delay, p.fanout, gone))


@require_safe
async def healthz(request: HttpRequest) -> JsonResponse:
    """200 when this worker can serve; the pid tells a client which worker answered."""
    return JsonResponse({"status": "ok", "pid": os.getpid()})
