"""One upstream call, async or sync: a whole-call deadline, a capped body, a named outcome.

A call never raises: it returns a ``CallResult`` that names what went wrong, and records its
duration in ``http_client_request_duration_seconds`` (with the ``error_type`` of a failure).
"""

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx

from mysite.metrics.instruments import observe_client_request

from . import bodies, conf, deadline

# Error kinds, a fixed vocabulary so the metric's error_type label stays bounded whatever the
# transport: httpx's own, or aiohttp's, whose exceptions httpx-aiohttp maps loosely (a reset
# connection arrives as httpx.ConnectTimeout).
TIMEOUT = "timeout"
CONNECT_ERROR = "connect_error"
CONNECTION_LOST = "connection_lost"
INVALID_RESPONSE = bodies.INVALID_RESPONSE
BODY_TOO_LARGE = bodies.BODY_TOO_LARGE
SKIPPED = "skipped"
# Calls still queued for a pool thread when the view's deadline passed.
NOT_STARTED = "not_started"
# Calls stopped because the request's client went away (sync views under gunicorn).
CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class CallResult:
    task_id: int
    body: Any = None
    error: str | None = None
    detail: str = ""

    @property
    def timed_out(self) -> bool:
        return self.error in (TIMEOUT, SKIPPED, NOT_STARTED, CANCELLED)


@functools.lru_cache(maxsize=16)
def _server_address(url: str) -> str:
    return httpx.URL(url).host


def _classify(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        if isinstance(cause, asyncio.TimeoutError):
            return TIMEOUT
        return CONNECT_ERROR if isinstance(cause, aiohttp.ClientConnectorError) else CONNECTION_LOST
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return TIMEOUT
    if isinstance(exc, httpx.ConnectError):
        return CONNECT_ERROR
    return CONNECTION_LOST


def _answer(task_id: int, status: int, body: bytes | None, url: str, started: float):
    if status >= 400:
        result = CallResult(task_id, error=str(status), detail=f"upstream answered {status}")
    else:
        try:
            result = CallResult(task_id, body=bodies.parse(body or b""))
        except bodies.BodyError as exc:
            result = CallResult(task_id, error=exc.kind, detail=exc.detail)
    _record(url, str(status), result, started)
    return result


def _refused_body(task_id: int, status: int, exc: bodies.BodyError, url: str, started: float):
    result = CallResult(task_id, error=exc.kind, detail=exc.detail)
    _record(url, str(status), result, started)
    return result


def _failure(task_id: int, exc: BaseException, url: str, timeout: float, started: float):
    kind = _classify(exc)
    detail = (
        f"no answer within {timeout:.3g} s" if kind == TIMEOUT else f"{type(exc).__name__}: {exc}"
    )
    result = CallResult(task_id, error=kind, detail=detail)
    _record(url, "", result, started)
    return result


def _record(url: str, status: str, result: CallResult, started: float) -> None:
    error_type = result.error or ""
    observe_client_request(
        _server_address(url), "GET", status, error_type, time.perf_counter() - started
    )


_TRANSPORT_ERRORS = (httpx.HTTPError, aiohttp.ClientError, OSError, TimeoutError)


async def call_async(
    client: httpx.AsyncClient, url: str, task_id: int, delay: float, limit: float, cap: int
) -> CallResult:
    started = time.perf_counter()
    status, body = 0, None
    query = {"task_id": task_id, "delay": delay}
    try:
        # httpx's timeouts bound each phase; this bounds the whole call, body included.
        async with (
            asyncio.timeout(limit),
            client.stream(
                "GET", url, params=query, headers=bodies.IDENTITY, timeout=limit
            ) as response,
        ):
            status = response.status_code
            if status < 400:  # an error's body is never read
                body = await bodies.read_async(response, cap)
    except bodies.BodyError as exc:
        return _refused_body(task_id, status, exc, url, started)
    except _TRANSPORT_ERRORS as exc:
        return _failure(task_id, exc, url, limit, started)
    return _answer(task_id, status, body, url, started)


def call_sync(
    client: httpx.Client,
    url: str,
    task_id: int,
    delay: float,
    timeout: float,
    ends: float,
    should_stop: Callable[[], bool] | None = None,
) -> CallResult:
    """One call that is over by ``ends`` (``time.monotonic()``), whatever the upstream does,
    or soon after ``should_stop()`` says its client went away."""
    started = time.perf_counter()
    status, body = 0, None
    query = {"task_id": task_id, "delay": delay}
    try:
        with (
            deadline.bounded_by(ends, should_stop),
            client.stream(
                "GET",
                url,
                params=query,
                headers=bodies.IDENTITY,
                timeout=max(ends - time.monotonic(), 0.001),
            ) as response,
        ):
            status = response.status_code
            if status < 400:
                body = bodies.read_sync(response, conf.upstream_max_body_bytes())
    except bodies.BodyError as exc:
        return _refused_body(task_id, status, exc, url, started)
    except _TRANSPORT_ERRORS as exc:
        if should_stop is not None and should_stop():
            result = CallResult(task_id, error=CANCELLED, detail="the client went away")
            _record(url, "", result, started)
            return result
        return _failure(task_id, exc, url, timeout, started)
    return _answer(task_id, status, body, url, started)
