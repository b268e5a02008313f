"""What an in-flight request costs a worker: its memory (RSS) and threads while C requests wait.

``hold`` opens C connections at once (aiohttp on an asyncio loop: cheap for the client), each
asking for a view that waits ``delay`` seconds, and samples the one worker process meanwhile; the
cost per in-flight request is the peak over the idle worker, divided by C. Besides the thread
count it counts the threads blocked in the request's wait (``/proc/<pid>/task/*/wchan``): a read
of a query's socket, a blocking sleep; as against a thread parked on a lock (an idle executor
thread) or the event loop's epoll. Used by the sweep's server-life phase and by
``tests/reliability``.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import psutil

from loadtests.analysis.records import InflightCost

from .sampler import TreeSampler

# Seconds between samples: reading every thread's wchan (a thousand of them) costs more than
# a thread count, and the peaks last the whole hold.
SAMPLE_INTERVAL = 0.25
WANTED = 1000  # requests in flight at once: the figure
# Seconds each one waits: long enough that all of them wait at once (one worker takes seconds
# to take in 1,000 requests and start their queries on a busy 2-core machine).
DELAY = 3.0
FD_MARGIN = 512  # descriptors beyond the connections (the app's files, libraries, pipes)


@dataclass(frozen=True)
class Case:
    label: str
    server: str
    path: str
    database: bool = False


CASES = (
    Case("async view", "uvicorn", "/async/api/"),
    Case("sync view under ASGI", "uvicorn", "/sync/api/"),
    Case("sync ORM, sync view under ASGI", "uvicorn", "/sync/db/", database=True),
    Case("async ORM, async view", "uvicorn", "/async/db/", database=True),
    Case("native async backend, async view", "uvicorn", "/async/db_native/", database=True),
    Case("async view", "granian", "/async/api/"),
)


def open_files_allow(wanted: int = WANTED) -> tuple[int, str | None]:
    """Raise the open-file limit for ``wanted`` connections (a server started afterwards
    inherits it); the count it allows, and why when that is less than ``wanted``.

    Each connection is a descriptor in the client and one in the server, and a database path's
    server holds one more per pooled connection: 2 per request covers the busiest process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted_fds = 2 * wanted + FD_MARGIN
    if hard == resource.RLIM_INFINITY or hard >= wanted_fds:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted_fds), hard))
        return wanted, None
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    allowed = max(50, (hard - FD_MARGIN) // 2)
    return allowed, f"the open-file limit ({hard}) allows {allowed} connections"


async def _all(url: str, concurrency: int, seconds: float) -> list[int]:
    """Each request's status (0: no answer), each on its own connection, all sent at once."""

    async def status(session: aiohttp.ClientSession) -> int:
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with session.get(url) as response:
                await response.read()
                return response.status
        return 0

    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async with asyncio.timeout(seconds):
            return await asyncio.gather(*(status(session) for _ in range(concurrency)))


def hold(
    case: Case,
    url: str,
    worker: psutil.Process,
    concurrency: int,
    delay: float = DELAY,
    timeout: float = 60.0,
    queries: Callable[[], int] | None = None,
    **extra,
) -> InflightCost:
    """``concurrency`` requests of ``case.path?delay=delay`` at once; the worker sampled
    meanwhile, and ``queries`` (the queries the database runs) with its blocked threads.
    ``extra``: the record's other fields (``db_pool_size``, ``limited_by``)."""
    queries_seen: list[int] = []

    def count_queries() -> None:
        with contextlib.suppress(Exception):  # a probe that fails leaves the peak
            queries_seen.append(queries())

    started = time.monotonic()
    also = count_queries if queries is not None else None
    with TreeSampler({"worker": worker.pid}, SAMPLE_INTERVAL, io=True, also=also) as sampler:
        statuses = asyncio.run(_all(f"{url}{case.path}?delay={delay:g}", concurrency, timeout))
    samples, mib = sampler.samples["worker"], 1024 * 1024
    if not samples:
        raise psutil.NoSuchProcess(worker.pid)  # gone before its first sample
    idle = samples[0]
    return InflightCost(
        case=case.label,
        server=case.server,
        path=case.path,
        concurrency=concurrency,
        delay_s=delay,
        ok=statuses.count(200),
        elapsed_s=round(time.monotonic() - started, 2),
        idle_rss_mib=round(idle.rss / mib, 1),
        peak_rss_mib=round(max(s.rss for s in samples) / mib, 1),
        idle_threads=idle.threads,
        peak_threads=max(s.threads for s in samples),
        idle_threads_blocked=idle.in_io,
        peak_threads_blocked=None if idle.in_io is None else max(s.in_io or 0 for s in samples),
        peak_queries_in_flight=max(queries_seen, default=None),
        **extra,
    )


def failed(
    case: Case, count: int, error: str, pool: int | None = None, reason: str | None = None
) -> InflightCost:
    """The record of a case that could not be measured."""
    return InflightCost(
        case=case.label,
        server=case.server,
        path=case.path,
        concurrency=count,
        delay_s=DELAY,
        db_pool_size=pool,
        limited_by=reason,
        error=error,
    )


def describe(cost: InflightCost) -> str:
    """One line, for a test's figure or the progress output."""
    if cost.error:
        return f"{cost.case}: failed: {cost.error}"
    blocked = (
        f", blocked {cost.idle_threads_blocked} -> {cost.peak_threads_blocked}"
        if cost.peak_threads_blocked is not None
        else ""
    )
    if cost.peak_queries_in_flight is not None:
        blocked += f" (queries in flight at most {cost.peak_queries_in_flight})"
    return (
        f"{cost.case} ({cost.server}): {cost.ok}/{cost.concurrency} answered in "
        f"{cost.elapsed_s:.1f} s; RSS {cost.idle_rss_mib:.0f} -> {cost.peak_rss_mib:.0f} MiB "
        f"({cost.kib_per_request:.1f} KiB per request), threads "
        f"{cost.idle_threads} -> {cost.peak_threads}{blocked}"
    )
