"""Refuses oversized requests before Django sees them, with gunicorn's limits, under ASGI too.

gunicorn refuses a request target over 4094 bytes (414) and more than 100 header fields or one
over 8190 bytes (431). uvicorn's httptools parser has no header limit at all (it hands a 50 MB
header to the app) and refuses a URL only past about 64 KB. Wrapping the ASGI app with the same
limits makes every server kind refuse the same requests. It bounds what reaches Django, not
what the server buffers before: only a proxy in front bounds that.

No view takes a body, and Django's ASGI handler reads the whole body (spooling it to a
temporary file past 2.5 MB) before any middleware runs: a request that announces one is
refused here, before a byte of it is received (``mysite.boundary`` does the same under WSGI).

Only HTTP reaches Django. A WebSocket handshake is refused here (Django's ASGI handler raises
on any other scope, and the servers logged a traceback for each attempt): a JSON 403, or 400
for a Host not in ALLOWED_HOSTS, where the server offers the ``websocket.http.response``
extension, else a close before accepting, which the server answers with a bare 403. Either is
counted in ``http_server_request_duration_seconds`` like any client error (route
``unmatched``, method GET). Any other scope type (none of the servers sends one) is left
unanswered; ``lifespan`` is answered outside (``mysite.lifespan``).
"""

import json
import logging
import time

MAX_REQUEST_TARGET = 4094
MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD_SIZE = 8190

BODY_REFUSED = "requests to this service carry no body"
BAD_HOST = "the Host header names a host this service does not serve"

WEBSOCKET_REFUSED = "this service speaks plain HTTP only: WebSocket is not served"
# The extension that lets an app answer a handshake with its own HTTP response (ASGI spec 2.4).
HTTP_RESPONSE_EXTENSION = "websocket.http.response"
# What a server answers to a handshake the app closed before accepting it.
CLOSED_HANDSHAKE_STATUS = 403
# "Policy violation": the code an app closes with when it will not talk to this client.
POLICY_VIOLATION = 1008

security_logger = logging.getLogger("django.security.DisallowedHost")

_REASONS = {
    413: BODY_REFUSED,
    414: "request target too long",
    431: "request header fields too large",
}


def refusal(scope) -> int | None:
    """The status that refuses this HTTP request, or None when it is within the limits."""
    target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
    if target > MAX_REQUEST_TARGET:
        return 414
    headers = scope["headers"]
    if len(headers) > MAX_HEADER_FIELDS:
        return 431
    content_length = transfer_encoding = None
    for name, value in headers:
        if len(name) + len(value) + 2 > MAX_HEADER_FIELD_SIZE:
            return 431
        if name == b"content-length":
            content_length = value.decode("latin-1")
        elif name == b"transfer-encoding":
            transfer_encoding = value.decode("latin-1")
    if carries_body(content_length, transfer_encoding):
        return 413
    return None


def carries_body(content_length: str | None, transfer_encoding: str | None) -> bool:
    """True when the request announces a body: a Content-Length other than 0, a malformed one,
    or any Transfer-Encoding (chunked bodies have no length to check first)."""
    if transfer_encoding:
        return True
    length = (content_length or "").strip()
    return bool(length) and length != "0"


def close_when_body(worker, req) -> None:
    """gunicorn's ``pre_request`` hook: a request with a body is refused (mysite.boundary), and
    its connection closed after the answer; kept alive, gunicorn would read the whole unread
    body to reach the next request. (gunicorn drops an app's ``Connection: close``.)"""
    headers = dict(req.headers)
    if carries_body(headers.get("CONTENT-LENGTH"), headers.get("TRANSFER-ENCODING")):
        req.must_close = True


def host_allowed(scope) -> bool:
    """Django's own Host check (``HttpRequest.get_host``), on an ASGI scope's headers."""
    from django.conf import settings
    from django.http.request import split_domain_port, validate_host

    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    if host is None:  # Django falls back to the address the server listens on
        server = scope.get("server") or ("", None)
        host = f"{server[0]}:{server[1]}".encode() if server[1] else str(server[0]).encode()
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _ = split_domain_port(host.decode("latin-1"))
    if domain and validate_host(domain, allowed):
        return True
    security_logger.warning(
        "Invalid HTTP_HOST header in a WebSocket handshake: %r.", host.decode("latin-1")
    )
    return False


async def refuse_websocket(scope, receive, send) -> None:
    """Refuse a WebSocket handshake, with the reason where the server lets the app say it."""
    started = time.perf_counter()
    message = await receive()
    if message["type"] != "websocket.connect":  # the client left before the handshake ended
        return
    status, reason = (403, WEBSOCKET_REFUSED) if host_allowed(scope) else (400, BAD_HOST)
    if HTTP_RESPONSE_EXTENSION in scope.get("extensions", {}):
        body = json.dumps({"error": reason}).encode()
        await send(
            {"type": "websocket.http.response.start", "status": status, "headers": _json(body)}
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": POLICY_VIOLATION})
        status = CLOSED_HANDSHAKE_STATUS
    _count(status, time.perf_counter() - started)


def _count(status: int, seconds: float) -> None:
    """As the metrics middleware counts a request no route matched."""
    from django.conf import settings

    if settings.METRICS_ENABLED:
        from mysite.metrics import instruments, names

        instruments.observe_server_request(names.UNMATCHED_ROUTE, "GET", status, seconds)


def _json(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]


def limit_request_size(app):
    async def application(scope, receive, send):
        if scope["type"] == "websocket":
            return await refuse_websocket(scope, receive, send)
        if scope["type"] != "http":
            return None  # nothing but HTTP reaches Django (see the module's docstring)
        status = refusal(scope)
        if status is None:
            return await app(scope, receive, send)
        body = json.dumps({"error": _REASONS[status]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*_json(body), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return application
