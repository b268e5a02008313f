"""Only HTTP reaches Django (issue 19, finding 4): a WebSocket handshake on every ASGI kind is
refused at the edge (``mysite.http_limits``) with the contract's JSON, no traceback in the
server's log, counted like any client error, and a bad Host is refused too.

Before: uvicorn answered 500 and logged a 1.2 KB traceback per attempt, granian 403 with a
traceback; the Host was not checked and nothing was counted. The handshake goes over a raw
socket, as any client would send it. One worker per kind, the kinds side by side. The
servers all offer the ``websocket.http.response`` extension; the close a server without it
gets, and scopes no server sends, are checked on the ASGI app itself.
"""

import base64
import json
import os
import re
import socket
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.test import override_settings

from mysite.http_limits import (
    BAD_HOST,
    CLOSED_HANDSHAKE_STATUS,
    HTTP_RESPONSE_EXTENSION,
    POLICY_VIOLATION,
    WEBSOCKET_REFUSED,
    limit_request_size,
)
from mysite.launcher import serve
from mysite.metrics import names

from .helpers import read_until_closed, scrape, total

ASGI_KINDS = ("uvicorn", "gunicorn-uvicorn", "granian")
ATTEMPTS = 5  # of each handshake, so a per-attempt log line would show
GOOD_HOST, BAD = "127.0.0.1", "evil.example"


def answered(received: bytes) -> bool:
    """One whole HTTP response: its head and as many bytes of body as its Content-Length says
    (a server may keep the connection open after it)."""
    head, ended, body = received.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:[ \t]*(\d+)", head) if ended else None
    return bool(length) and len(body) >= int(length.group(1))


def handshake(url: str, host: str, path: str = "/async/api/") -> tuple[int, dict, bytes]:
    """The status, headers and body the server answers to a WebSocket upgrade request."""
    address, port = url.removeprefix("http://").split(":")
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection((address, int(port)), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = read_until_closed(sock, 3, answered)
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines if ": " in line)
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return int(status_line.split()[1]), headers, body


def unmatched(samples, status: int) -> float:
    return total(
        samples,
        names.SERVER_DURATION + "_count",
        http_route=names.UNMATCHED_ROUTE,
        http_request_method="GET",
        http_response_status_code=str(status),
    )


def refuse_on(kind: str) -> dict:
    with serve(kind, workers=1) as server:
        before = scrape(server.url)
        log_before = server.log_path.stat().st_size
        answers = [handshake(server.url, host) for host in [GOOD_HOST, BAD] * ATTEMPTS]
        after = scrape(server.url)
        log = server.log_path.read_text(errors="replace")
        healthy = httpx.get(server.url + "/healthz", timeout=10).status_code
        log_growth = server.log_path.stat().st_size - log_before
    return {
        "kind": kind,
        "answers": answers,
        "counted": {
            status: unmatched(after, status) - unmatched(before, status) for status in (400, 403)
        },
        "log": log,
        "log_bytes_per_attempt": log_growth / len(answers),
        "healthz": healthy,
    }


@pytest.mark.live
def test_a_websocket_handshake_is_refused_counted_and_logs_no_traceback(figure):
    with ThreadPoolExecutor(len(ASGI_KINDS)) as pool:
        results = list(pool.map(refuse_on, ASGI_KINDS))
    for result in results:
        good = [answer for i, answer in enumerate(result["answers"]) if i % 2 == 0]
        bad = [answer for i, answer in enumerate(result["answers"]) if i % 2 == 1]
        figure(
            f"{result['kind']}: WebSocket handshake ({ATTEMPTS} with a good Host, {ATTEMPTS} bad)",
            f"statuses {sorted({s for s, _, _ in good})} / {sorted({s for s, _, _ in bad})}, "
            f"counted {result['counted']}, log {result['log_bytes_per_attempt']:.0f} B/attempt, "
            f"tracebacks {result['log'].count('Traceback')}",
            "403 JSON / 400 JSON; counted exactly; no traceback, no ERROR",
        )
    for result in results:
        kind, log = result["kind"], result["log"]
        assert "Traceback" not in log, (kind, log[-3000:])
        assert "ERROR" not in log, (kind, log[-3000:])
        for (status, headers, body), expected, reason in [
            *((answer, 403, WEBSOCKET_REFUSED) for answer in good),
            *((answer, 400, BAD_HOST) for answer in bad),
        ]:
            assert status == expected, (kind, status, body)
            assert headers["content-type"] == "application/json", (kind, headers)
            assert json.loads(body) == {"error": reason}, kind
        assert result["counted"] == {400: ATTEMPTS, 403: ATTEMPTS}, kind
        assert result["healthz"] == 200
        # One access line and one DisallowedHost warning at most per attempt: no traceback.
        assert result["log_bytes_per_attempt"] < 400, kind


# --- on the ASGI app itself ------------------------------------------------------------------


def never_called(*args):
    raise AssertionError("Django was called")


async def run_edge(scope: dict, messages: list[dict]) -> list[dict]:
    sent: list[dict] = []
    incoming = iter(messages)

    async def receive():
        return next(incoming)

    async def send(message):
        sent.append(message)

    await limit_request_size(never_called)(scope, receive, send)
    return sent


def websocket_scope(host: bytes, extensions: dict | None = None) -> dict:
    return {
        "type": "websocket",
        "path": "/ws/",
        "headers": [(b"host", host)],
        "server": ("127.0.0.1", 8000),
        "extensions": extensions or {},
    }


@pytest.mark.parametrize("host", [b"127.0.0.1:8000", b"evil.example"])
async def test_without_the_response_extension_the_handshake_is_closed_and_counted(host):
    def count() -> float:
        from mysite.metrics.instruments import server_duration

        labels = {
            "http_route": names.UNMATCHED_ROUTE,
            "http_request_method": "GET",
            "http_response_status_code": str(CLOSED_HANDSHAKE_STATUS),
        }
        sample = [
            s
            for m in server_duration.collect()
            for s in m.samples
            if s.name.endswith("_count") and s.labels == labels
        ]
        return sample[0].value if sample else 0.0

    before = count()
    with override_settings(METRICS_ENABLED=True):
        sent = await run_edge(websocket_scope(host), [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": POLICY_VIOLATION}]
    assert count() == before + 1


async def test_with_the_extension_the_answer_is_the_json_refusal():
    scope = websocket_scope(b"localhost", {HTTP_RESPONSE_EXTENSION: {}})
    sent = await run_edge(scope, [{"type": "websocket.connect"}])
    assert [m["type"] for m in sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert sent[0]["status"] == 403
    assert json.loads(sent[1]["body"]) == {"error": WEBSOCKET_REFUSED}


async def test_a_client_gone_before_the_handshake_ended_gets_nothing():
    sent = await run_edge(websocket_scope(b"localhost"), [{"type": "websocket.disconnect"}])
    assert sent == []


async def test_a_scope_type_no_server_sends_never_reaches_django():
    assert await run_edge({"type": "webtransport", "headers": []}, []) == []
