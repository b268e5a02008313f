"""Calls to the upstream service: one shared, pooled client per worker, and the three fan-outs.

Each call has a whole-call deadline of ``UPSTREAM_TIMEOUT`` seconds (connect, headers and body
alike: see ``deadline.py`` for the sync client), and every fan-out, the sequential baseline
included, answers within one whole-request deadline, ``FANOUT_DEADLINE``: a call gets at most
what is left of it, and a call not started by then is named, not made. It reads at most
``UPSTREAM_MAX_BODY_BYTES``
(``bodies.py``) and never raises: it returns a ``CallResult`` that names what went wrong, and
records its duration in ``http_client_request_duration_seconds``. ``FanoutResult`` turns the
calls into the response. The clients keep no cookies between calls (one user's call must not
carry what another's upstream set) and ignore the environment's proxies and ``.netrc``.
"""

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import http.cookiejar
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp
import httpx

from . import conf, deadline
from .calls import CANCELLED, NOT_STARTED, SKIPPED, TIMEOUT, CallResult, call_async, call_sync
from .disconnect import ClientGone

# Kept from the request's deadline to gather the calls and write the answer: the calls end this
# much before it (the thread-pool fan-out waits this long for its calls to hand back results).
_DEADLINE_GRACE = 0.25


@dataclass(frozen=True, slots=True)
class _RequestDeadline:
    """One fan-out request's deadline: what each call may still take, in seconds."""

    timeout: float  # UPSTREAM_TIMEOUT, per call
    calls_end: float  # time.monotonic() by which every call is over

    @classmethod
    def starting_now(cls) -> Self:
        request_deadline = conf.fanout_deadline()
        return cls(conf.upstream_timeout(), time.monotonic() + request_deadline - _DEADLINE_GRACE)

    def call_ends(self) -> float:
        """When a call that starts now must be over: its own timeout, or the request's end."""
        return min(time.monotonic() + self.timeout, self.calls_end)

    def passed(self) -> bool:
        return time.monotonic() >= self.calls_end


@dataclass(slots=True)
class FanoutResult:
    calls: list[CallResult]
    elapsed: float = field(default=0.0)

    @property
    def failed(self) -> list[CallResult]:
        return [call for call in self.calls if call.error is not None]

    @property
    def status(self) -> int:
        failed = self.failed
        if not failed:
            return 200
        # 504 when the upstream only ever ran out of time, 502 when it also misbehaved.
        return 504 if all(call.timed_out for call in failed) else 502

    def as_json(self) -> dict[str, Any]:
        elapsed = round(self.elapsed, 2)  # the message and the number say the same
        return {
            "responses": [call.body for call in self.calls],
            "debug_message": f"fetch executed in {elapsed:.2f} seconds.",
            "elapsed": elapsed,
            "errors": [
                {"task_id": call.task_id, "error": call.error, "detail": call.detail}
                for call in self.failed
            ],
        }


# --- the clients --------------------------------------------------------------------------

# One async client per serving event loop: a client's connections belong to the loop that
# opened them. Only loops that the ASGI lifespan announced live as long as the worker; others
# (an async view under WSGI runs on a new loop per request, as does the test client) would
# leave a client behind with every request.
_async_clients: dict[tuple[asyncio.AbstractEventLoop, str, int], httpx.AsyncClient] = {}
_serving_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_sync_lock = threading.Lock()
_sync_client: httpx.Client | None = None
_executor: concurrent.futures.ThreadPoolExecutor | None = None


def _limits(pool_size: int) -> httpx.Limits:
    return httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)


async def adopt_serving_loop() -> None:
    """The worker's lifespan startup hook: this loop serves every request of the worker."""
    _serving_loops.add(asyncio.get_running_loop())


def _no_cookies() -> http.cookiejar.CookieJar:
    """A jar that stores nothing: no domain is allowed to set a cookie."""
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


def _aiohttp_session(pool_size: int) -> aiohttp.ClientSession:
    # aiohttp keeps its own cookie jar under httpx's; this one stores nothing either.
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=pool_size),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


def _new_async_client(transport_name: str, pool_size: int) -> httpx.AsyncClient:
    transport = None
    if transport_name == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        transport = AiohttpTransport(
            limits=_limits(pool_size),
            trust_env=False,
            client=functools.partial(_aiohttp_session, pool_size),
        )
    # trust_env=False: no HTTP(S)_PROXY (a loopback call must not leave through a proxy) and
    # no .netrc credentials sent to whatever UPSTREAM_URL names.
    return httpx.AsyncClient(
        limits=_limits(pool_size), transport=transport, trust_env=False, cookies=_no_cookies()
    )


def _new_sync_client(pool_size: int) -> httpx.Client:
    transport = httpx.HTTPTransport(limits=_limits(pool_size), trust_env=False)
    deadline.install(transport)
    return httpx.Client(transport=transport, trust_env=False, cookies=_no_cookies())


def get_async_client() -> httpx.AsyncClient:
    """The shared client of the running loop, created on first use, closed at shutdown."""
    transport_name, pool_size = conf.upstream_transport(), conf.upstream_pool_size()
    key = (asyncio.get_running_loop(), transport_name, pool_size)
    client = _async_clients.get(key)
    if client is None:
        client = _async_clients[key] = _new_async_client(transport_name, pool_size)
    return client


@contextlib.asynccontextmanager
async def async_client() -> AsyncIterator[httpx.AsyncClient]:
    """The client for one request: the loop's shared one on a serving loop, else one of its own
    that is closed with the request (and so pools nothing: the price of async views under WSGI)."""
    if asyncio.get_running_loop() in _serving_loops:
        yield get_async_client()
        return
    async with _new_async_client(conf.upstream_transport(), conf.upstream_pool_size()) as client:
        yield client


def _get_sync_pool() -> tuple[httpx.Client, concurrent.futures.ThreadPoolExecutor]:
    global _sync_client, _executor
    if _executor is None:
        with _sync_lock:
            if _executor is None:
                pool_size = conf.upstream_pool_size()
                _sync_client = _new_sync_client(pool_size)
                _executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=pool_size, thread_name_prefix="upstream"
                )
                atexit.register(close_sync_clients)
    return _sync_client, _executor


def close_sync_clients() -> None:
    global _sync_client, _executor
    with _sync_lock:
        if _executor is not None:
            _executor.shutdown(wait=False, cancel_futures=True)
            _executor = None
        if _sync_client is not None:
            _sync_client.close()
            _sync_client = None


async def close_clients() -> None:
    """Close the pools this worker holds (its lifespan shutdown hook)."""
    loop = asyncio.get_running_loop()
    for key in [key for key in _async_clients if key[0] is loop]:
        await _async_clients.pop(key).aclose()
    close_sync_clients()


# --- the three fan-outs ---------------------------------------------------------------------


def _timed(calls: Callable[[], list[CallResult]]) -> FanoutResult:
    started = time.perf_counter()
    results = calls()
    return FanoutResult(results, time.perf_counter() - started)


async def fetch_concurrently(delay: float, fanout: int) -> FanoutResult:
    """All calls at once on this worker's event loop, through its shared async client."""
    url, cap = conf.upstream_url(), conf.upstream_max_body_bytes()
    request_deadline = _RequestDeadline.starting_now()
    async with async_client() as client:
        started = time.perf_counter()
        # The calls start together: each gets its timeout, or what is left of the request's.
        timeout = max(request_deadline.call_ends() - time.monotonic(), 0.0)
        # A task group, so nothing runs on detached: the request's cancellation (its client
        # went away) or any unexpected error cancels every sibling call.
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(call_async(client, url, task_id, delay, timeout, cap))
                for task_id in range(fanout)
            ]
        return FanoutResult([task.result() for task in tasks], time.perf_counter() - started)


def fetch_in_threads(
    delay: float, fanout: int, client_gone: ClientGone | None = None
) -> FanoutResult:
    """All calls at once from the worker's bounded thread pool, through its shared sync client.

    With ``client_gone`` (see ``disconnect.py``), the calls stop when the client goes away.
    """
    url = conf.upstream_url()
    client, executor = _get_sync_pool()

    def calls() -> list[CallResult]:
        # One deadline for the whole fan-out: a call that waited for a pool thread gets only
        # what is left, so no thread reads on for a response that has already been sent.
        request_deadline = _RequestDeadline.starting_now()
        ends = request_deadline.call_ends()
        timeout = max(ends - time.monotonic(), 0.0)
        stop = threading.Event()
        should_stop = stop.is_set if client_gone is not None else None
        futures = [
            executor.submit(call_sync, client, url, task_id, delay, timeout, ends, should_stop)
            for task_id in range(fanout)
        ]
        _wait(futures, ends + _DEADLINE_GRACE, client_gone, stop)
        results = []
        for task_id, future in enumerate(futures):
            if future.done() and not future.cancelled():
                results.append(future.result())
            else:
                future.cancel()
                results.append(
                    CallResult(
                        task_id,
                        error=NOT_STARTED if future.cancelled() else TIMEOUT,
                        detail=f"no answer within {timeout:.3g} s",
                    )
                )
        return results

    return _timed(calls)


def _wait(futures, until: float, client_gone: ClientGone | None, stop: threading.Event) -> None:
    """Until every call is done or ``until``: a call's own timeout starts only when a thread
    picks it up, and when other requests hold every thread this still answers in time. Every
    ``POLL`` seconds, whether the client went away: then ``stop`` ends the calls."""
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return
        step = left if client_gone is None else min(left, deadline.POLL)
        _, pending = concurrent.futures.wait(futures, timeout=step)
        if not pending:
            return
        if client_gone is not None and client_gone():
            stop.set()
            return


def fetch_sequentially(
    delay: float, fanout: int, client_gone: ClientGone | None = None
) -> FanoutResult:
    """One call after the other: the baseline. Stops at the first timeout, and at the request's
    deadline (the calls not tried then are ``skipped``), so it stays bounded; with
    ``client_gone``, also when the client goes away."""
    url = conf.upstream_url()
    client, _ = _get_sync_pool()

    def calls() -> list[CallResult]:
        request_deadline = _RequestDeadline.starting_now()
        results: list[CallResult] = []
        why_not = ""
        for task_id in range(fanout):
            if not why_not and request_deadline.passed():
                why_not = f"the request's deadline of {conf.fanout_deadline():g} s passed"
            if why_not:
                results.append(CallResult(task_id, error=SKIPPED, detail=f"not tried: {why_not}"))
                continue
            ends = request_deadline.call_ends()
            timeout = max(ends - time.monotonic(), 0.0)
            result = call_sync(client, url, task_id, delay, timeout, ends, client_gone)
            if result.error in (TIMEOUT, CANCELLED):
                why_not = "an earlier call timed out"
            results.append(result)
        return results

    return _timed(calls)
