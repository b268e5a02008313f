"""Refuses oversized requests before Django sees them, with gunicorn's limits, under ASGI too.

gunicorn refuses a request target over 4094 bytes (414) and more than 100 header fields or one
over 8190 bytes (431). uvicorn's httptools parser has no header limit at all (it hands a 50 MB
header to the app) and refuses a URL only past about 64 KB. Wrapping the ASGI app with the same
limits makes every server kind refuse the same requests. It bounds what reaches Django, not
what the server buffers before: only a proxy in front bounds that.

No view takes a body, and Django's ASGI handler reads the whole body (spooling it to a
temporary file past 2.5 MB) before any middleware runs: a request that announces one is
refused here, before a byte of it is received (``mysite.boundary`` does the same under WSGI).
"""

import json

MAX_REQUEST_TARGET = 4094
MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD_SIZE = 8190

BODY_REFUSED = "requests to this service carry no body"

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


def limit_request_size(app):
    async def application(scope, receive, send):
        status = refusal(scope) if scope["type"] == "http" else None
        if status is None:
            return await app(scope, receive, send)
        body = json.dumps({"error": _REASONS[status]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return application
