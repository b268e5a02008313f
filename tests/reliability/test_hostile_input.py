"""Hostile input: whatever a client sends, no 500, no hang, and the metrics' series stay bounded.

Breadth comes from hypothesis through Django's test clients (sync and async), with the views'
sleeps taken out so that thousands of requests run in seconds; the fan-out views call the real
upstream's ``/status/200/``, which answers at once. Oversized requests go to live servers of
every kind, through a raw socket, since test clients have no request-size limits to prove.
"""

import asyncio
import time
import types
import urllib.parse

import pytest
from django.test import AsyncClient, Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from mysite.demo import upstream as upstream_client
from mysite.demo import views
from mysite.launcher import serve
from mysite.metrics import names

from .helpers import raw_exchange

ROUTES = [
    "/sync/api/",
    "/async/api/",
    "/async/blocking/",
    "/async/api_aggregated/",
    "/async/aggregate_sync_view/",
    "/sync/api_aggregated/",
    "/sync/api_sequential/",
]
OTHER_PATHS = ["/", "/healthz", "/metrics"]  # "/": the front door
ASYNC_FANOUT = {"/async/api_aggregated/", "/async/aggregate_sync_view/"}
METHODS = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "OPTIONS",
    "TRACE",
    "QUERY",
    "PROPFIND",
    "BREW",
    "get",
]
ALLOWED_STATUSES = {200, 400, 404, 405, 413}  # 413: a request that carries a body
EXAMPLES = 300
SLOWEST_ANSWER = 5.0  # seconds: no request may take longer (the sleeps are out)

TRICKY_NUMBERS = [
    "nan",
    "inf",
    "-inf",
    "1e999",
    "1e-999",
    "0x10",
    "1_0",
    " 1",
    "1 ",
    "",
    "+1",
    "-0",
    ".5",
    "5.",
    "\u0661",
    "\u00bd",
    "10.0000001",
    "99999999999999999999",
    "0" * 40,
    "1e1",
    "100",
    "101",
    "10",
    "0",
]
numberish = st.one_of(
    st.floats().map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(TRICKY_NUMBERS),
    st.text(max_size=80),
)
parameter_names = st.one_of(st.sampled_from(["delay", "fanout", "task_id"]), st.text(max_size=12))
query_pairs = st.lists(st.tuples(parameter_names, numberish), max_size=6)
# Raw query strings: broken percent-escapes, stray separators, non-UTF-8 bytes once decoded.
raw_queries = st.text(alphabet="%&=;+dlyfanoutsk_0123456789abcdefxXzZ.-é\x00 ", max_size=60)
KNOWN_HEADERS = [
    "Authorization",
    "Accept",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "Host",
    "Cookie",
    "Content-Type",
    "Range",
    "If-None-Match",
    "X-Real-IP",
]
header_names = st.one_of(
    st.sampled_from(KNOWN_HEADERS),
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120)


@st.composite
def requests(draw, paths):
    # Mostly the real paths and GET, where the parameters are read; the rest anything.
    if draw(st.integers(0, 4)):
        path = draw(st.sampled_from(paths))
    else:
        path = "/" + draw(st.text(max_size=30))
    if draw(st.integers(0, 3)):
        query = urllib.parse.urlencode(draw(query_pairs))
    else:
        query = urllib.parse.quote(draw(raw_queries), safe="%&=;+")
    method = draw(st.sampled_from(["GET", "GET", "GET", "HEAD", *METHODS]))
    headers = draw(st.dictionaries(header_names, header_values, max_size=4))
    body = draw(st.binary(max_size=64)) if method in ("POST", "PUT", "PATCH") else b""
    return method, urllib.parse.quote(path, safe="/%"), query, headers, body


def server_series() -> set[tuple[str, str, str]]:
    series = set()
    for family in REGISTRY.collect():
        if family.name == names.SERVER_DURATION:
            for sample in family.samples:
                if sample.name.endswith("_count"):
                    labels = sample.labels
                    series.add((labels[names.ROUTE], labels[names.METHOD], labels[names.STATUS]))
    return series


def client_addresses() -> set[str]:
    return {
        sample.labels[names.SERVER_ADDRESS]
        for family in REGISTRY.collect()
        if family.name == names.CLIENT_DURATION
        for sample in family.samples
    }


@pytest.fixture(scope="module")
def quick_views(upstream):
    """No sleeping in the views, and fan-outs to an upstream path that answers at once."""
    with (
        pytest.MonkeyPatch.context() as patch,
        override_settings(UPSTREAM_URL=upstream.url + "/status/200/", UPSTREAM_TIMEOUT="5"),
    ):

        async def no_sleep(seconds):
            return None

        patch.setattr(views, "time", types.SimpleNamespace(sleep=lambda seconds: None))
        patch.setattr(views, "asyncio", types.SimpleNamespace(sleep=no_sleep))
        yield upstream


def check_bounded(before: set, after: set, upstream) -> int:
    new = after - before
    routes = {route for route, _, _ in new}
    methods = {method for _, method, _ in new}
    statuses = {status for _, _, status in new}
    assert routes <= {*ROUTES, *OTHER_PATHS, names.UNMATCHED_ROUTE}, routes
    assert methods <= {*names.STANDARD_METHODS, names.OTHER_METHOD}, methods
    assert statuses <= {str(status) for status in ALLOWED_STATUSES}, statuses
    assert client_addresses() <= {"127.0.0.1"}, "upstream calls went somewhere unexpected"
    return len(after)


def check_response(response, elapsed: float, request) -> None:
    status = response.status_code
    # /metrics refuses a forwarded request (X-Forwarded-For, ...) from a proxy it does not trust.
    allowed = ALLOWED_STATUSES | ({403} if request[1] == "/metrics" else set())
    assert status in allowed, (status, request)
    assert elapsed < SLOWEST_ANSWER, (elapsed, request)
    if status >= 400 and request[0] != "HEAD":  # every error the app answers is the contract's
        assert response["Content-Type"] == "application/json", (status, request)
        assert set(response.json()) == {"error"}, (status, request)


def test_sync_client_any_input(quick_views, figure):
    client = Client(raise_request_exception=True)
    before = server_series()
    statuses: dict[int, int] = {}

    # The async fan-out is the async client's: each sync call of it would open a new event loop.
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(requests([path for path in ROUTES + OTHER_PATHS if path not in ASYNC_FANOUT]))
    def run(request):
        method, path, query, headers, body = request
        started = time.perf_counter()
        response = client.generic(
            method, path, body, QUERY_STRING=query, headers=headers, content_type="text/plain"
        )
        check_response(response, time.perf_counter() - started, request)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    run()
    series = check_bounded(before, server_series(), quick_views)
    figure(
        "sync client: responses by status",
        dict(sorted(statuses.items())),
        "only 200/400/404/405/413 (and 403 on /metrics)",
    )
    figure("server-duration series after the fuzzing (all tests so far)", series)


def test_async_client_any_input(quick_views, figure):
    client = AsyncClient(raise_request_exception=True)
    before = server_series()
    statuses: dict[int, int] = {}
    with asyncio.Runner() as runner:

        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        )
        @given(requests(ROUTES + OTHER_PATHS))
        def run(request):
            method, path, query, headers, body = request
            started = time.perf_counter()
            call = client.generic(
                method, path, body, QUERY_STRING=query, headers=headers, content_type="text/plain"
            )
            response = runner.run(call)
            check_response(response, time.perf_counter() - started, request)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        try:
            run()
        finally:
            runner.run(upstream_client.close_clients())
    series = check_bounded(before, server_series(), quick_views)
    figure(
        "async client: responses by status",
        dict(sorted(statuses.items())),
        "only 200/400/404/405/413 (and 403 on /metrics)",
    )
    figure("server-duration series after the fuzzing (all tests so far)", series)


# --- oversized requests, live --------------------------------------------------------------------

OVERSIZED = {
    "query 5 KB": b"GET /sync/api/?delay=0&x=" + b"a" * 5_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    "query 1 MB": b"GET /sync/api/?delay=0&x=" + b"a" * 10**6 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    "path 10 KB": b"GET /" + b"p" * 10_000 + b"/ HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    "header 10 KB": b"GET /sync/api/?delay=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
    + b"a" * 10_000
    + b"\r\n",
    "header 4 MB": b"GET /sync/api/?delay=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
    + b"a" * 4_000_000
    + b"\r\n",
    "200 headers": b"GET /sync/api/?delay=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(200)),
}
REFUSED = {400, 414, 431}


@pytest.mark.live
@pytest.mark.parametrize("kind", ["uvicorn", "gunicorn-gthread", "gunicorn-uvicorn"])
def test_oversized_requests_are_refused_and_the_server_keeps_serving(kind, figure):
    import httpx

    outcomes = {}
    with serve(kind, workers=2) as server, httpx.Client(timeout=10) as client:
        for case, head in OVERSIZED.items():
            started = time.perf_counter()
            status = raw_exchange(server.url, head + b"Connection: close\r\n\r\n")
            elapsed = time.perf_counter() - started
            outcomes[case] = status
            # Refused with a 4xx, or the connection closed without an answer: never served.
            assert status is None or status in REFUSED, (case, status)
            assert elapsed < 10, (case, elapsed)
            assert client.get(server.url + "/healthz").status_code == 200
            assert client.get(server.url + "/sync/api/", params={"delay": 0}).status_code == 200
        # Just within the limits is still served.
        assert client.get(server.url + "/sync/api/?delay=0&x=" + "a" * 3_000).status_code == 200
        assert (
            client.get(server.url + "/sync/api/?delay=0", headers={"X-Big": "a" * 8_000})
        ).status_code == 200
    figure(f"{kind}: status per oversized request", outcomes, "400/414/431 or closed")
