"""Threads per in-flight query, counted in the worker process (Linux /proc): the async ORM runs
each query in a thread (Django's ``sync_to_async``), which waits on the database socket; the
native path awaits the query on the event loop, and no thread waits for it."""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from loadtests.sweep import sampler
from mysite.launcher import serve
from tests.metrics.test_live import wait_for

from .conftest import PATHS, db_env, sleeping_queries

pytestmark = pytest.mark.live

IN_FLIGHT = 8
DELAY = 2.0


@pytest.fixture(scope="module")
def one_worker(postgres):
    with serve("uvicorn", 1, env=db_env(postgres, DB_POOL_SIZE=str(IN_FLIGHT))) as running:
        yield running


def worker_process(server) -> psutil.Process:
    """The process that listens on the server's port (uvicorn with one worker: itself)."""
    port = urlsplit(server.url).port
    main = psutil.Process(server.pid)
    for process in [main, *main.children(recursive=True)]:
        if any(
            c.status == psutil.CONN_LISTEN and c.laddr.port == port
            for c in process.net_connections("tcp")
        ):
            return process
    raise AssertionError("no process listens on the server's port")


@dataclass(frozen=True)
class Threads:
    total: int
    # Threads the kernel has parked in a wait on a socket (poll, select, recv): a query's wait.
    # The event loop waits in epoll, parked threads on a futex; neither counts here.
    in_io: int


def threads(process: psutil.Process) -> Threads:
    in_io = sampler.in_io(process.pid)
    assert in_io is not None, "no /proc: this test reads Linux's wait channels"
    return Threads(process.num_threads(), in_io)


def threads_in_flight(server, postgres, path: str, delay_in_postgres: bool = True):
    """The worker's threads at rest, and while IN_FLIGHT requests wait ``DELAY`` seconds."""
    url = server.url + path
    assert httpx.get(url, params={"delay": 0}, timeout=30).status_code == 200  # pool opened
    worker = worker_process(server)
    at_rest = wait_for(
        lambda: threads(worker) if sleeping_queries(postgres) == 0 else None,
        "the worker to be idle",
    )
    with ThreadPoolExecutor(IN_FLIGHT) as clients:
        pending = [
            clients.submit(httpx.get, url, params={"delay": DELAY}, timeout=30)
            for _ in range(IN_FLIGHT)
        ]
        if delay_in_postgres:
            wait_for(lambda: sleeping_queries(postgres) == IN_FLIGHT, "every query in flight", 10)
        else:
            time.sleep(DELAY / 2)
        # A thread that the kernel is running at the instant of a look shows no wait (wchan
        # "0"): on a busy machine one look can miss one; the most of a few looks does not.
        busy = max(_looks(worker), key=lambda seen: (seen.in_io, seen.total))
        assert [p.result().status_code for p in pending] == [200] * IN_FLIGHT
    return at_rest, busy


def _looks(worker: psutil.Process, count: int = 5, interval: float = 0.05) -> list[Threads]:
    looks = []
    for _ in range(count):
        looks.append(threads(worker))
        time.sleep(interval)
    return looks


def test_the_async_orm_blocks_a_thread_per_query_the_native_path_none(one_worker, postgres, figure):
    """Async ORM: a thread per in-flight query, blocked on its socket. Native: the queries wait
    on the event loop, and no thread waits on a socket."""
    at_rest, busy = threads_in_flight(one_worker, postgres, PATHS["async"])
    assert busy.in_io - at_rest.in_io >= IN_FLIGHT, (at_rest, busy)
    figure("async ORM: threads at rest -> in flight (blocked on a socket)", f"{at_rest} -> {busy}")
    at_rest, busy = threads_in_flight(one_worker, postgres, PATHS["native"])
    assert busy.in_io - at_rest.in_io == 0, (at_rest, busy)
    figure("native: threads at rest -> in flight (blocked on a socket)", f"{at_rest} -> {busy}")


def test_the_native_path_adds_no_thread_to_what_any_async_view_holds(one_worker, postgres, figure):
    """Django's ASGI handler itself parks a thread per in-flight request (its request signals'
    sync receivers run in the request's own thread), even for a view with no database at all:
    so the native path holds as many threads as /async/api/, no more."""
    api_rest, api_busy = threads_in_flight(
        one_worker, postgres, "/async/api/", delay_in_postgres=False
    )
    native_rest, native_busy = threads_in_flight(one_worker, postgres, PATHS["native"])
    api_extra = api_busy.total - api_rest.total
    assert api_extra >= IN_FLIGHT - 1, "Django's handler: a thread per in-flight request"
    assert native_busy.total - native_rest.total <= api_extra, (native_rest, native_busy)
    figure(
        "threads added by 8 in flight: /async/api/, native",
        f"{api_extra}, {native_busy.total - native_rest.total}",
    )
