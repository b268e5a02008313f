"""Refuses oversized requests before Django sees them, with gunicorn's limits, under ASGI too.

gunicorn refuses a request target over 4094 bytes (414) and more than 100 header fields or one
over 8190 bytes (431). uvicorn's httptools parser has no header limit at all (it hands a 50 MB
header to the app) and refuses a URL only past about 64 KB. Wrapping the ASGI app with the same
limits makes every server kind refuse the same requests. It bounds what reaches Django, not
what the server buffers before: only a proxy in front bounds that.
"""

MAX_REQUEST_TARGET = 4094
MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD_SIZE = 8190

_REASONS = {414: b"request target too long", 431: b"request header fields too large"}


def refusal(scope) -> int | None:
    """The status that refuses this HTTP request, or None when it is within the limits."""
    target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
    if target > MAX_REQUEST_TARGET:
        return 414
    headers = scope["headers"]
    if len(headers) > MAX_HEADER_FIELDS:
        return 431
    for name, value in headers:
        if len(name) + len(value) + 2 > MAX_HEADER_FIELD_SIZE:
            return 431
    return None


def limit_request_size(app):
    async def application(scope, receive, send):
        status = refusal(scope) if scope["type"] == "http" else None
        if status is None:
            return await app(scope, receive, send)
        body = _REASONS[status] + b"\n"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return application
