"""The views under test: the same work written sync and async, and the fan-outs.

Each view gets its query already validated (a bad value is a 400 with the reason, never a
500), then does exactly one kind of waiting, so that what the benchmark measures is that kind
of waiting.
"""

import asyncio
import os
import time

from django.http import HttpRequest, JsonResponse

from mysite.errors import require_safe

from . import conf, disconnect, params, selfcall, upstream
from .validated import with_query

# Each view gets its query parsed into ``Params``, or the client a 400 with the reason.
with_params = with_query(params.parse)


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
