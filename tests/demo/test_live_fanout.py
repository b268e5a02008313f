"""The headline, with real servers: uvicorn with 2 workers, a separate upstream process, real
timings. Ten upstream calls of 0.3 s take about 0.3 s when concurrent and 3 s when sequential;
a dead upstream is a 502 and a slow one a 504, both within the timeout.

Bounds are generous (2x the ideal) so only a real regression breaks them on a busy 2-core box.
"""

import statistics
import time

import httpx
import psutil
import pytest

from mysite.launcher import free_port, serve

pytestmark = pytest.mark.live

DELAY = 0.3
FANOUT = 10
TIMEOUT = 1.5
CONCURRENT_VIEWS = ["/async/api_aggregated/", "/sync/api_aggregated/"]


def timed_get(client: httpx.Client, url: str, **params) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = client.get(url, params=params)
    return response, time.perf_counter() - started


def warm_up(client: httpx.Client, app_url: str) -> None:
    """Open each worker's upstream pools first: the first call of a worker pays the connects."""
    for path in [*CONCURRENT_VIEWS, "/sync/api_sequential/"]:
        for _ in range(4):
            client.get(app_url + path, params={"delay": 0, "fanout": FANOUT})


@pytest.fixture(scope="module", params=["httpx", "aiohttp"])
def app(request, upstream):
    env = {
        "UPSTREAM_URL": upstream.url + "/api/",
        "UPSTREAM_TIMEOUT": str(TIMEOUT),
        "UPSTREAM_TRANSPORT": request.param,
    }
    with serve("uvicorn", workers=2, env=env) as running, httpx.Client(timeout=30) as client:
        warm_up(client, running.url)
        yield running, client


@pytest.mark.parametrize("path", CONCURRENT_VIEWS)
def test_concurrent_fanout_takes_about_one_call(app, path):
    running, client = app
    timings = []
    for _ in range(3):
        response, seconds = timed_get(client, running.url + path, delay=DELAY, fanout=FANOUT)
        assert response.status_code == 200, response.text
        assert response.json()["errors"] == []
        assert len(response.json()["responses"]) == FANOUT
        timings.append(seconds)
    assert statistics.median(timings) < 2 * DELAY, timings


def test_sequential_fanout_takes_the_sum_of_its_calls(app):
    running, client = app
    response, seconds = timed_get(
        client, running.url + "/sync/api_sequential/", delay=DELAY, fanout=FANOUT
    )
    assert response.status_code == 200
    assert seconds >= FANOUT * DELAY
    assert response.json()["elapsed"] >= FANOUT * DELAY


@pytest.mark.parametrize("path", [*CONCURRENT_VIEWS, "/sync/api_sequential/"])
def test_upstream_slower_than_timeout_is_504_within_timeout(app, path):
    running, client = app
    response, seconds = timed_get(client, running.url + path, delay=TIMEOUT + 2, fanout=FANOUT)
    assert response.status_code == 504
    body = response.json()
    assert sorted(error["task_id"] for error in body["errors"]) == list(range(FANOUT))
    assert body["responses"] == [None] * FANOUT
    assert seconds < TIMEOUT + 1, seconds


@pytest.fixture(scope="module")
def app_with_dead_upstream():
    # A port nothing listens on: every connect is refused.
    env = {"UPSTREAM_URL": f"http://127.0.0.1:{free_port()}/api/", "UPSTREAM_TIMEOUT": "3"}
    with serve("uvicorn", workers=2, env=env) as running, httpx.Client(timeout=30) as client:
        yield running, client


@pytest.mark.parametrize("path", [*CONCURRENT_VIEWS, "/sync/api_sequential/"])
def test_upstream_down_is_502_within_timeout(app_with_dead_upstream, path):
    running, client = app_with_dead_upstream
    response, seconds = timed_get(client, running.url + path, delay=DELAY, fanout=FANOUT)
    assert response.status_code == 502
    errors = response.json()["errors"]
    assert [error["task_id"] for error in errors] == list(range(FANOUT))
    assert {error["error"] for error in errors} == {"connect_error"}
    assert seconds < 3, seconds


def test_async_fanout_under_wsgi_leaves_nothing_open(upstream):
    """Under WSGI each request runs the async view on a new event loop: its upstream client must
    close with it, or every request would leave its connections (and memory) behind."""
    env = {"UPSTREAM_URL": upstream.url + "/api/"}
    with (
        serve("gunicorn-gthread", workers=1, threads=4, env=env) as running,
        httpx.Client(timeout=30) as client,
    ):
        (worker,) = psutil.Process(running.pid).children()

        def fan_out(times: int) -> None:
            for _ in range(times):
                response = client.get(
                    running.url + "/async/api_aggregated/", params={"delay": 0, "fanout": 10}
                )
                assert response.status_code == 200

        fan_out(5)
        open_before = worker.num_fds()
        fan_out(40)  # 400 upstream connections if each request leaked its own
        assert worker.num_fds() - open_before < 20
