"""What comes in from outside, live on every server kind (issue 10, items 1, 2, 3, 6, 7):
Host validation, ``/metrics`` behind a proxy, request bodies, malformed queries, and the
default upstream that is the app itself.

One server per kind for the module, trusting one proxy address: 127.0.0.2 (a loopback alias,
so a second client on this machine can pose as the proxy while 127.0.0.1 is anyone else).
"""

import concurrent.futures
import contextlib
import socket
import threading
import time

import httpx
import pytest

from mysite.http_limits import BAD_HOST, BODY_REFUSED
from mysite.launcher import free_port, serve
from mysite.metrics import names
from mysite.servers import SERVER_KINDS

from .helpers import read_until_closed, scrape, total, worker_processes

pytestmark = pytest.mark.live

KINDS = list(SERVER_KINDS)  # every kind the launcher starts
PROXY = "127.0.0.2"
ALLOWED = "203.0.113.9"  # in METRICS_ALLOWED_CIDRS
OUTSIDE = "198.51.100.7"  # anyone on the internet
ENV = {"METRICS_TRUSTED_PROXIES": f"{PROXY}/32", "METRICS_ALLOWED_CIDRS": "203.0.113.0/24"}
MB = 1024 * 1024


@pytest.fixture(scope="module", params=KINDS)
def app(request):
    with (
        serve(request.param, workers=2, env=ENV) as server,
        httpx.Client(timeout=30) as client,
        httpx.Client(timeout=30, transport=httpx.HTTPTransport(local_address=PROXY)) as proxy,
    ):
        yield request.param, server, client, proxy


def unmatched_400s(server) -> float:
    return total(
        scrape(server.url),
        names.SERVER_DURATION + "_count",
        http_route=names.UNMATCHED_ROUTE,
        http_response_status_code="400",
    )


# --- hosts ---------------------------------------------------------------------------------------

BAD_HOSTS = ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "[::2]"]
PATHS = ["/sync/api/?delay=0", "/async/api/?delay=0", "/sync/api_aggregated/?fanout=1"]


def test_a_host_not_allowed_is_a_json_400_counted_like_any_client_error(app, figure):
    kind, server, client, _ = app
    before = unmatched_400s(server)
    statuses = set()
    for host in BAD_HOSTS:
        for path in [*PATHS, "/metrics", "/healthz"]:
            response = client.get(server.url + path, headers={"Host": host})
            statuses.add(response.status_code)
            assert response.status_code == 400, (host, path, response.text[:200])
            assert response.json() == {"error": BAD_HOST}
    counted = unmatched_400s(server) - before
    # /metrics and /healthz are never counted (METRICS_EXCLUDED_PATHS); the views' paths are.
    assert counted == len(BAD_HOSTS) * len(PATHS)
    port = server.url.rsplit(":", 1)[1]
    for host in ["localhost", f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"]:
        assert client.get(server.url + PATHS[0], headers={"Host": host}).status_code == 200
    figure(
        f"{kind}: bad Host -> status; counted as 400 (route unmatched)", f"{statuses}; {counted:g}"
    )


# --- /metrics behind a proxy ---------------------------------------------------------------------

# (who connects, headers, status): 127.0.0.1 is an untrusted peer, PROXY the trusted proxy.
PROXY_CASES = [
    ("direct", {}, 200),  # loopback itself, nothing forwarded
    ("direct", {"X-Forwarded-For": OUTSIDE}, 403),  # nginx not declared trusted: refused
    ("direct", {"X-Forwarded-For": "127.0.0.1"}, 403),  # a claim, from an untrusted peer
    ("direct", {"X-Real-IP": "127.0.0.1"}, 403),
    ("direct", {"Forwarded": "for=127.0.0.1"}, 403),
    ("direct", {"X-Forwarded-For": ALLOWED}, 403),
    ("proxy", {"X-Forwarded-For": OUTSIDE}, 403),  # judged by the client the proxy names
    ("proxy", {"X-Real-IP": OUTSIDE}, 403),
    ("proxy", {"Forwarded": f"for={OUTSIDE};proto=https"}, 403),
    ("proxy", {"X-Forwarded-For": f"127.0.0.1, {OUTSIDE}"}, 403),  # spoofed first entry
    ("proxy", {"X-Forwarded-For": OUTSIDE, "X-Real-IP": "127.0.0.1"}, 403),  # passed through
    ("proxy", {"X-Forwarded-For": ALLOWED}, 200),
    ("proxy", {"X-Real-IP": ALLOWED, "X-Forwarded-For": ALLOWED}, 200),
    ("proxy", {"Forwarded": f'for="{ALLOWED}:4711"'}, 200),
    ("proxy", {"X-Forwarded-For": "127.0.0.1"}, 200),  # a client on the proxy's own host
]


@pytest.mark.parametrize(("via", "headers", "status"), PROXY_CASES)
def test_metrics_behind_a_proxy_judges_the_client_the_trusted_proxy_names(
    app, via, headers, status
):
    _, server, client, proxy = app
    response = (proxy if via == "proxy" else client).get(server.url + "/metrics", headers=headers)
    assert response.status_code == status, response.text[:200]


# --- request bodies ------------------------------------------------------------------------------


def connect(server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


@pytest.mark.parametrize(
    "head",
    [
        "POST /sync/api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000000\r\n\r\n",
        "GET /async/api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000000\r\n\r\n",
        "PUT /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    ],
    ids=["post-60MB", "get-60MB", "chunked"],
)
def test_a_body_is_refused_before_a_byte_of_it_is_sent(app, head, figure):
    """The client sends the head and waits: the 413 comes without the body ever being sent."""
    kind, server, _, _ = app
    with connect(server) as sock:
        started = time.perf_counter()
        sock.sendall(head.encode())
        received = read_until_closed(sock, 5)
        elapsed = time.perf_counter() - started
    assert received.startswith(b"HTTP/1.1 413 "), received[:200]
    assert BODY_REFUSED.encode() in received
    assert received.count(b"HTTP/1.1 ") == 1
    assert elapsed < 2, elapsed  # answered, and the connection closed, without the body
    figure(
        f"{kind} {head.split()[0]} {head.split()[1]}: 413 and closed in",
        f"{elapsed:.3f} s",
        "< 2 s",
    )


def test_a_body_never_becomes_the_next_request(app):
    """Keep-alive safety: a body shaped like a request is not served as one."""
    _, server, _, _ = app
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    head = b"POST /sync/api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n"
    with connect(server) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head % len(smuggled) + smuggled)
        received = read_until_closed(sock, 5)
    assert received.startswith(b"HTTP/1.1 413 "), received[:200]
    assert received.count(b"HTTP/1.1 ") == 1, received


def written_bytes(server) -> int:
    return sum(worker.io_counters().write_chars for worker in worker_processes(server))


def test_a_60_mb_body_sent_anyway_writes_nothing(app, figure):
    """A client that sends its whole body at once: refused, nothing spooled to disk."""
    kind, server, client, _ = app
    written_before = written_bytes(server)
    body = b"x" * (60 * MB)
    head = b"POST /sync/api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n"
    sent = 0
    with connect(server) as sock:
        started = time.perf_counter()

        def send() -> None:
            nonlocal sent
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
                sock.sendall(head % len(body))
                view = memoryview(body)
                while sent < len(body):
                    sent += sock.send(view[sent : sent + MB])

        sender = threading.Thread(target=send)
        sender.start()
        received = read_until_closed(sock, 10)
        elapsed = time.perf_counter() - started
        sender.join(15)
    written = written_bytes(server) - written_before
    # Refused with a 413, or reset while the client was still sending: never served.
    assert received == b"" or received.startswith(b"HTTP/1.1 413 "), received[:200]
    assert written < MB, written
    assert elapsed < 5, elapsed
    assert client.get(server.url + "/healthz").status_code == 200
    figure(
        f"{kind}: 60 MB POST: answer, time, bytes the client got to send, bytes workers wrote",
        f"{received[:12]!r}, {elapsed:.2f} s, {sent / MB:.1f} MB, {written} B",
        "413 or reset; < 5 s; < 1 MB written",
    )


# --- parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["delay=\u0663", "delay=0&fanout=\uff12", "&".join(f"f{i}=1" for i in range(150))],
    ids=["arabic-indic-digit", "full-width-digit", "150-fields"],
)
@pytest.mark.parametrize("path", ["/sync/api/", "/async/api/", "/sync/api_aggregated/"])
def test_a_malformed_query_is_the_contract_json_400(app, path, query):
    _, server, client, _ = app
    response = client.get(f"{server.url}{path}?{query}")
    assert response.status_code == 400, response.text[:200]
    assert response.headers["content-type"] == "application/json"
    assert "error" in response.json()


# --- what the app answers, and what the server answers before it ------------------------------

# Request lines no server hands to the app (each refuses them itself); a UTF-8 path, which only
# granian hands on; and an unknown path, which every server hands on.
REQUEST_LINES = {
    "raw byte in the path": b"GET /caf\xe9/ HTTP/1.1",
    "raw UTF-8 in the path": b"GET /caf\xc3\xa9/ HTTP/1.1",
    "raw byte in the query": b"GET /sync/api/?delay=0&task_id=\xff HTTP/1.1",
    "raw byte in the method": b"G\xc9T /sync/api/ HTTP/1.1",
    "control byte in the path": b"GET /a\x01b/ HTTP/1.1",
    "unknown path": b"GET /nope/ HTTP/1.1",
}


def test_the_app_answers_json_and_the_server_refuses_what_never_reaches_it(app, figure):
    """Whatever reaches the app is answered in the contract's JSON (an unknown path a 404, before
    the change Django's HTML page); what the server refuses itself is a 400 in its own words,
    never a 2xx or a 5xx, never a traceback (docs/RELIABILITY.md lists each kind's answer)."""
    kind, server, _, _ = app
    seen = {}
    for case, line in REQUEST_LINES.items():
        with connect(server) as sock:
            sock.sendall(line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head, _, body = read_until_closed(sock, limit=5).partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        fields = dict(
            line.decode("latin-1").lower().split(": ", 1)
            for line in head.split(b"\r\n")[1:]
            if b": " in line
        )
        content_type = fields.get("content-type", "none")
        seen[case] = f"{status} {content_type}"
        assert status in (400, 404), (kind, case, head)
        if status == 404 or content_type == "application/json":  # the app answered
            assert content_type == "application/json", (kind, case)
            assert b'{"error": "no such path"}' in body, (kind, case, body)
    assert seen["unknown path"] == "404 application/json"
    assert "Traceback" not in server.log_path.read_text(errors="replace")
    figure(f"{kind}: request lines -> status and content type", seen)


# --- the default upstream is the app itself -------------------------------------------------------


def test_a_gthread_worker_calling_itself_says_so_and_what_to_do(figure):
    """Two fan-outs on 2 threads calling the same server: both wait for threads they hold
    themselves until the timeout (the deadlock, shown); the worker's log says why and what
    to do."""
    port = free_port()
    env = {"UPSTREAM_URL": f"http://127.0.0.1:{port}/sync/api/", "UPSTREAM_TIMEOUT": "1"}
    with (
        serve("gunicorn-gthread", workers=1, threads=2, port=port, env=env) as server,
        httpx.Client(timeout=30) as client,
        concurrent.futures.ThreadPoolExecutor(2) as pool,
    ):
        url = server.url + "/sync/api_aggregated/?delay=0&fanout=2"
        statuses = sorted(r.status_code for r in pool.map(lambda _: client.get(url), range(2)))
        log = server.log_tail(200)
    assert "is this app's own view" in log, log
    assert "loadtests.upstream_server" in log
    figure("gthread, 1 worker x 2 threads, two fan-outs of 2 calling itself", statuses)
