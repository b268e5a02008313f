"""A misbehaving upstream, live (issue 10, items 4 and 5): big, chunked, nested, non-JSON,
dripping and stalled bodies. Every fan-out view (async over either transport, the thread pool,
the sequential baseline) answers within its deadline with the contract's status, names the
failure in ``errors`` and in ``http_client_request_duration_seconds``, stops reading what it
abandoned, and holds no memory for it. The shared clients keep no cookies and ignore the
environment's proxy (the server runs with ``HTTP_PROXY`` pointing at the hostile upstream).

One uvicorn server per transport for the whole module; ``UPSTREAM_TRANSPORT=aiohttp`` changes
only the async view's client, so that server checks the async view alone.
"""

import socket
import time

import httpx
import pytest

from mysite.launcher import serve
from mysite.metrics import names

from .helpers import scrape, total, wait_for, worker_processes
from .hostile_upstream import BIG_BODY, SLOW_ANSWER, hostile_upstream

pytestmark = pytest.mark.live

TIMEOUT = 2.0  # UPSTREAM_TIMEOUT of the server
SLACK = 1.0  # every answer, and every abandoned call's end, within TIMEOUT + SLACK
FANOUT = 10
CAP = 64 * 1024  # the default UPSTREAM_MAX_BODY_BYTES, left unset on purpose
ASYNC_VIEW = "/async/api_aggregated/"
THREAD_VIEW = "/sync/api_aggregated/"
SEQUENTIAL_VIEW = "/sync/api_sequential/"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def hostile():
    with hostile_upstream() as upstream:
        yield upstream


@pytest.fixture(scope="module", params=["httpx", "aiohttp"])
def app(request, hostile):
    env = {
        "UPSTREAM_URL": hostile.url + "/api/",
        "UPSTREAM_TIMEOUT": str(TIMEOUT),
        "UPSTREAM_TRANSPORT": request.param,
        # An environment proxy that a loopback call must never go through.
        "HTTP_PROXY": hostile.url,
        "HTTPS_PROXY": hostile.url,
        "ALL_PROXY": hostile.url,
        "http_proxy": hostile.url,
        "NO_PROXY": "",
        "no_proxy": "",
    }
    # No Django checks before each start: tests/demo/test_checks.py tests them.
    with (
        serve("uvicorn", workers=2, env=env, system_checks=False) as server,
        httpx.Client(timeout=60) as client,
    ):
        views = [ASYNC_VIEW] if request.param == "aiohttp" else [ASYNC_VIEW, THREAD_VIEW]
        yield server, client, request.param, views


def fan_out(client, server, view, fanout=FANOUT):
    started = time.perf_counter()
    response = client.get(server.url + view, params={"delay": 0, "fanout": fanout})
    return response, time.perf_counter() - started


def client_calls(server, error_type: str) -> float:
    return total(scrape(server.url), names.CLIENT_DURATION + "_count", error_type=error_type)


def rss_mb(server) -> float:
    return max(worker.memory_info().rss for worker in worker_processes(server)) / MB


@pytest.mark.parametrize("mode", ["big", "big-chunked"])
def test_a_big_body_is_abandoned_at_the_cap(app, hostile, mode, figure):
    server, client, transport, views = app
    rss_before = rss_mb(server)
    counted_before = client_calls(server, "body_too_large")
    calls = 0
    for view in [*views, SEQUENTIAL_VIEW] if transport == "httpx" else views:
        hostile.reset(mode)
        response, elapsed = fan_out(client, server, view)
        assert response.status_code == 502, (view, response.text[:300])
        errors = response.json()["errors"]
        assert {error["error"] for error in errors} == {"body_too_large"}, view
        assert len(errors) == FANOUT, view
        assert len(response.content) < 10_000, view  # nothing of the bodies passed on
        assert elapsed < TIMEOUT + SLACK, (view, elapsed)
        calls += FANOUT
        # Each connection stopped being read near the cap: the kernel's buffers, not 50 MB.
        sent = max(connection.body_bytes_sent for connection in hostile.connections)
        assert sent < BIG_BODY / 4, (view, sent)
    rss_after = rss_mb(server)
    assert rss_after - rss_before < 100, (rss_before, rss_after)
    wait_for(
        lambda: client_calls(server, "body_too_large") - counted_before == calls,
        5,
        f"{calls} calls counted as body_too_large",
    )
    figure(
        f"{transport} {mode}: worker RSS before/after {calls} calls to 50 MB bodies; "
        "most bytes sent on one connection",
        f"{rss_before:.0f} -> {rss_after:.0f} MB; {sent / MB:.1f} MB",
        "< +100 MB; < 12.5 MB",
    )


@pytest.mark.parametrize(("mode", "detail"), [("nested", "RecursionError"), ("not-json", "")])
def test_a_body_that_is_not_the_expected_json_is_a_named_502(app, hostile, mode, detail, figure):
    server, client, transport, views = app
    slowest = 0.0
    for view in [*views, SEQUENTIAL_VIEW] if transport == "httpx" else views:
        hostile.reset(mode)
        response, elapsed = fan_out(client, server, view)
        assert response.status_code == 502, (view, response.text[:300])
        errors = response.json()["errors"]
        assert {error["error"] for error in errors} == {"invalid_response"}, view
        assert all(detail in error["detail"] for error in errors), errors[0]
        assert elapsed < TIMEOUT + SLACK, (view, elapsed)
        slowest = max(slowest, elapsed)
    assert client_calls(server, "invalid_response") > 0
    figure(
        f"{transport} {mode}: status, error, slowest answer",
        f"502, invalid_response, {slowest:.2f} s",
        f"502 (not 500), < {TIMEOUT + SLACK:g} s",
    )


@pytest.mark.parametrize("mode", ["drip", "stall"])
def test_a_dripping_or_stalled_body_ends_at_the_deadline(app, hostile, mode, figure):
    server, client, transport, views = app
    answers = {}
    for view in [*views, SEQUENTIAL_VIEW] if transport == "httpx" else views:
        hostile.reset(mode)
        started = time.monotonic()
        response, elapsed = fan_out(client, server, view)
        assert response.status_code == 504, (view, response.text[:300])
        kinds = {error["error"] for error in response.json()["errors"]}
        assert kinds <= {"timeout", "skipped"}, (view, kinds)
        assert "timeout" in kinds, (view, kinds)
        assert elapsed < TIMEOUT + SLACK, (view, elapsed)
        # No thread or task goes on reading a body nobody will use.
        wait_for(
            lambda: hostile.open_connections() == 0,
            TIMEOUT + SLACK - (time.monotonic() - started),
            f"{view}: every upstream connection closed by the deadline",
        )
        last_close = max(c.closed for c in hostile.connections) - started
        answers[view] = f"504 in {elapsed:.2f} s, last upstream read ended at {last_close:.2f} s"
    figure(f"{transport} {mode}", answers, f"< {TIMEOUT + SLACK:g} s each")


def test_a_client_that_goes_away_stops_the_async_calls(app, hostile, figure):
    server, _, transport, _ = app
    hostile.reset("drip")
    host, port = server.url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            f"GET {ASYNC_VIEW}?delay=0&fanout={FANOUT} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        )
        wait_for(lambda: len(hostile.connections) == FANOUT, 2, "the calls to start")
    gone = time.monotonic() - started
    # Cancelled with the request, well before the calls' own deadline.
    wait_for(lambda: hostile.open_connections() == 0, 1.5, "calls stopped after the disconnect")
    stopped = max(c.closed for c in hostile.connections) - started
    assert stopped < TIMEOUT, stopped
    figure(
        f"{transport}: async fan-out, client gone at {gone:.2f} s: calls stopped at",
        f"{stopped:.2f} s",
        f"< {TIMEOUT:g} s (the deadline)",
    )


@pytest.fixture(scope="module")
def gthread_app(hostile):
    env = {"UPSTREAM_URL": hostile.url + "/api/", "UPSTREAM_TIMEOUT": str(TIMEOUT)}
    with serve("gunicorn-gthread", workers=1, threads=4, env=env, system_checks=False) as server:
        yield server


@pytest.mark.parametrize("view", [THREAD_VIEW, SEQUENTIAL_VIEW], ids=["threads", "sequential"])
def test_a_sync_fanout_under_gunicorn_that_watches_its_client_answers_normally(
    gthread_app, hostile, view
):
    """The watching (reads in slices, the client's socket peeked at) changes no good answer."""
    hostile.reset("slow")
    with httpx.Client(timeout=30) as client:
        response, elapsed = fan_out(client, gthread_app, view, fanout=4)
    assert response.status_code == 200, response.text[:300]
    assert [answer["message"] for answer in response.json()["responses"]] == ["ok"] * 4
    calls = 1 if view == THREAD_VIEW else 4
    assert SLOW_ANSWER * calls <= elapsed < SLOW_ANSWER * calls + SLACK, elapsed


@pytest.mark.parametrize("view", [THREAD_VIEW, SEQUENTIAL_VIEW], ids=["threads", "sequential"])
def test_a_client_that_goes_away_stops_the_sync_calls_under_gunicorn(
    gthread_app, hostile, view, figure
):
    """gunicorn hands a sync view the client's socket, so its calls can stop when it closes."""
    hostile.reset("drip")
    host, port = gthread_app.url.removeprefix("http://").split(":")
    started = time.monotonic()
    expected = FANOUT if view == THREAD_VIEW else 1
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            f"GET {view}?delay=0&fanout={FANOUT} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        )
        wait_for(lambda: len(hostile.connections) == expected, 2, "the calls to start")
    gone = time.monotonic() - started
    wait_for(lambda: hostile.open_connections() == 0, 1.5, "calls stopped after the disconnect")
    stopped = max(c.closed for c in hostile.connections) - started
    assert stopped < TIMEOUT, stopped
    # The calls after it were never made.
    time.sleep(0.3)
    assert len(hostile.connections) == expected
    figure(
        f"gunicorn-gthread {view}: client gone at {gone:.2f} s: calls stopped at",
        f"{stopped:.2f} s",
        f"< {TIMEOUT:g} s (the deadline)",
    )


def test_no_cookie_crosses_from_one_request_to_the_next(app, hostile):
    server, client, transport, views = app
    for view in [*views, SEQUENTIAL_VIEW] if transport == "httpx" else views:
        hostile.reset("ok")
        for _ in range(3):  # the upstream sets a cookie on every answer
            response, _ = fan_out(client, server, view, fanout=3)
            assert response.status_code == 200, (view, response.text[:300])
        assert hostile.cookies_seen == [""] * 9, (view, hostile.cookies_seen)


def test_loopback_calls_never_go_through_the_environment_proxy(app, hostile):
    server, client, _, views = app
    hostile.reset("ok")
    for view in views:
        response, _ = fan_out(client, server, view, fanout=3)
        assert response.status_code == 200
    # The server runs with HTTP_PROXY pointing at the hostile upstream: a proxied call would
    # have arrived in absolute form.
    assert hostile.proxied == []
    assert len(hostile.cookies_seen) == 3 * len(views)
