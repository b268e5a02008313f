"""/metrics of real servers with several worker processes: exact counts whichever worker answers
the scrape, a valid exposition, and no trace of a worker killed in the middle of a request."""

import contextlib
import http.client
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import psutil
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from mysite.launcher import serve
from mysite.metrics import names

from .samples import active, parse, route_count, scrape
from .test_exposition import promtool_problems

pytestmark = pytest.mark.live

REQUESTS = 200
CONCURRENCY = 16
SCRAPES = 3  # each may be answered by another worker; all must agree
HELLO_PATHS = ["/sync/api/?delay=0", "/async/api/?delay=0"]


@pytest.fixture(scope="module")
def uvicorn4():
    with serve("uvicorn", 4) as running:
        yield running


@pytest.fixture(scope="module")
def gthread2():
    with serve("gunicorn-gthread", 2, threads=4) as running:
        yield running


@pytest.fixture(params=["uvicorn4", "gthread2"])
def server(request):
    return request.getfixturevalue(request.param)


# --- helpers ---------------------------------------------------------------------------------


def connect(server) -> http.client.HTTPConnection:
    address = urlsplit(server.url)
    return http.client.HTTPConnection(address.hostname, address.port, timeout=30)


def get(server, path: str, method: str = "GET") -> int:
    """One request on its own connection, so that the requests spread over the workers."""
    connection = connect(server)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def send(server, path: str, count: int) -> list[int]:
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(lambda _: get(server, path), range(count)))


def workers(server) -> list[psutil.Process]:
    """The server's worker processes, once all of them listen on its port."""
    port = urlsplit(server.url).port

    def listening() -> list[psutil.Process]:
        found = [
            child
            for child in psutil.Process(server.pid).children(recursive=True)
            if any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == port
                for c in child.net_connections("tcp")
            )
        ]
        return found if len(found) == server.extra["workers"] else []

    return wait_for(listening, "every worker to listen")


@contextlib.contextmanager
def only_accepting(worker: psutil.Process, pool: list[psutil.Process]) -> Iterator[None]:
    """Pause every other worker, so this one accepts every new connection meanwhile."""
    others = [other for other in pool if other.pid != worker.pid]
    for other in others:
        other.suspend()
    try:
        yield
    finally:
        for other in others:
            other.resume()


def counts_by_worker(server, route: str) -> dict[int, float]:
    """Each worker's own count for ``route``, read from its file alone (a worker that has served
    no request yet has no file: prometheus_client creates it at the first observation)."""
    counts = {}
    for worker in workers(server):
        path = server.extra["metrics_dir"] / f"histogram_{worker.pid}.db"
        if not path.exists():
            counts[worker.pid] = 0.0
            continue
        counts[worker.pid] = sum(
            sample.value
            for metric in MultiProcessCollector.merge([str(path)])
            for sample in metric.samples
            if sample.name == names.SERVER_DURATION + "_count"
            and sample.labels[names.ROUTE] == route
        )
    return counts


def wait_for(condition, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


def is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# --- counts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", HELLO_PATHS)
def test_each_route_count_equals_the_requests_served(server, path):
    """Each worker serves a share of the requests (the others paused meanwhile); then every
    scrape, whichever worker answers it, counts them all."""
    route = path.partition("?")[0]
    pool = workers(server)
    share = REQUESTS // len(pool)
    before, by_worker_before = scrape(server.url), counts_by_worker(server, route)
    for worker in pool:
        with only_accepting(worker, pool):
            assert send(server, path, share) == [200] * share
    by_worker = counts_by_worker(server, route)
    assert {pid: n - by_worker_before.get(pid, 0) for pid, n in by_worker.items()} == {
        worker.pid: share for worker in pool
    }
    for _ in range(SCRAPES):
        after = scrape(server.url)
        assert route_count(after, route) - route_count(before, route) == share * len(pool)
        assert active(after) == 0


def test_live_exposition_passes_promtool(server):
    for path in [*HELLO_PATHS, "/nope", "/sync/api/?delay=bad"]:
        get(server, path)
    get(server, "/sync/api/", method="PURGE")
    response = connect(server)
    response.request("GET", "/metrics")
    text = response.getresponse().read().decode()
    response.close()
    assert f"# TYPE {names.SERVER_DURATION} histogram" in text
    assert route_count(parse(text), names.UNMATCHED_ROUTE, status=404) >= 1
    assert promtool_problems(text) == ""


def test_blocking_async_view_shows_as_event_loop_lag(uvicorn4):
    def slow_samples() -> float:
        samples = scrape(uvicorn4.url)
        return sum(
            value for (name, labels), value in samples.items() if name == names.LOOP_LAG + "_count"
        ) - sum(
            value
            for (name, labels), value in samples.items()
            if name == names.LOOP_LAG + "_bucket" and ("le", "0.25") in labels
        )

    before = slow_samples()
    assert get(uvicorn4, "/async/blocking/?delay=0.5") == 200
    # The stalled worker records the lag when its loop runs again, right after this response.
    wait_for(lambda: slow_samples() >= before + 1, "a loop-lag sample above 0.25 s")
    lag_max = {
        dict(labels)[names.PID]
        for (name, labels), _ in scrape(uvicorn4.url).items()
        if name == names.LOOP_LAG_MAX
    }
    assert len(lag_max) == 4, "one loop-lag gauge per worker"


# --- a worker killed mid-request ---------------------------------------------------------------


def test_killed_worker_leaves_no_active_request_and_no_counter_goes_down(server):
    route = "/async/api/"
    connection = connect(server)
    # A few requests on one keep-alive connection: one worker, which is about to be killed, has
    # counted them.
    for _ in range(3):
        connection.request("GET", route + "?delay=0")
        connection.getresponse().read()
    local_port = connection.sock.getsockname()[1]
    server_port = urlsplit(server.url).port
    victim = next(
        worker
        for worker in workers(server)
        for c in worker.net_connections("tcp")
        if c.laddr.port == server_port and c.raddr and c.raddr.port == local_port
    )
    connection.request("GET", route + "?delay=10")

    def scrape_with_one_in_flight():
        samples = scrape(server.url)
        return samples if active(samples) == 1 else None

    in_flight = wait_for(scrape_with_one_in_flight, "the request in flight")

    os.kill(victim.pid, signal.SIGKILL)
    wait_for(lambda: is_gone(victim.pid), "the worker to die")
    connection.close()

    after = scrape(server.url)
    assert active(after) == 0
    assert route_count(after, route) == route_count(in_flight, route)
    for (name, labels), value in in_flight.items():
        if name.endswith(("_count", "_bucket", "_total")):
            assert after[name, labels] >= value, (name, dict(labels))
        elif name.endswith("_sum"):  # merged in another order: equal up to rounding
            assert after[name, labels] >= value * (1 - 1e-12), (name, dict(labels))
    assert not [
        labels
        for (name, labels) in after
        if name == names.LOOP_LAG_MAX and (names.PID, str(victim.pid)) in labels
    ]
    # The server carries on, a worker short or with a new one, and counts stay exact.
    assert send(server, route + "?delay=0", 20) == [200] * 20
    assert route_count(scrape(server.url), route) == route_count(after, route) + 20
