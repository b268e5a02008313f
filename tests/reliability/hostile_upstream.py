"""A misbehaving upstream on loopback, for the boundary tests: one asyncio server in a thread
of the test process, whose behaviour the test switches with ``mode`` before each request.

Modes (every path answers the same, so the app under test keeps one ``UPSTREAM_URL``):

- ``ok``: a small JSON object, with a ``Set-Cookie`` and the ``Cookie`` header it was sent;
  ``slow``: the same after ``SLOW_ANSWER`` seconds;
- ``big``: a valid JSON body of ``BIG_BODY`` bytes with its Content-Length, sent as fast as the
  client reads; ``big-chunked``: the same, chunked, with no length to check first;
- ``nested``: ``NESTED_DEPTH`` opening brackets, under the app's cap (``json`` recurses);
- ``not-json``: a 200 whose body is not JSON;
- ``drip``: headers, then one body byte every ``DRIP_INTERVAL`` seconds;
- ``stall``: headers and a few body bytes, then nothing.

It counts what it sent and sees each connection close, so a test can tell when the app stopped
reading. A request in absolute form (``GET http://...``) is one sent to it as a proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

BIG_BODY = 50 * 1024 * 1024
NESTED_DEPTH = 50_000
DRIP_INTERVAL = 0.1
DRIP_BYTES = 300  # 30 s of dripping: far past any deadline of the tests
CHUNK = 64 * 1024
SLOW_ANSWER = 0.35


@dataclass
class Exchange:
    """One request and its answer; ``closed`` when the answer ended or the client went away."""

    mode: str
    opened: float
    closed: float | None = None
    body_bytes_sent: int = 0


@dataclass
class HostileUpstream:
    mode: str = "ok"
    port: int = 0
    connections: list[Exchange] = field(default_factory=list)
    proxied: list[str] = field(default_factory=list)
    cookies_seen: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self, mode: str) -> None:
        """Switch mode and start counting afresh (exchanges still running stay in the old list)."""
        self.mode = mode
        self.connections = []
        self.cookies_seen = []

    def open_connections(self) -> int:
        return sum(1 for connection in list(self.connections) if connection.closed is None)

    # --- serving --------------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = None
        try:
            while True:  # keep-alive: one request after another
                head = await reader.readuntil(b"\r\n\r\n")
                connection = Exchange(self.mode, time.monotonic())
                self.connections.append(connection)
                lines = head.decode("latin-1").split("\r\n")
                target = lines[0].split(" ")[1]
                if target.startswith("http://"):
                    self.proxied.append(target)
                headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
                keep_alive = await self.answer(connection, target, headers, reader, writer)
                connection.closed = time.monotonic()
                if not keep_alive:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            if connection is not None and connection.closed is None:
                connection.closed = time.monotonic()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def answer(self, connection, target, headers, reader, writer) -> bool:
        mode = connection.mode
        if mode == "slow":  # a good answer, later than a few of the sync client's read slices
            await asyncio.sleep(SLOW_ANSWER)
        if mode in ("ok", "slow"):
            self.cookies_seen.append(headers.get("Cookie", headers.get("cookie", "")))
            query = target.partition("?")[2]
            body = json.dumps({"message": "ok", "query": query}).encode()
            writer.write(_head(200, len(body), b"Set-Cookie: lab_session=secret-of-user-a\r\n"))
            writer.write(body)
            await writer.drain()
            return True
        if mode in ("big", "big-chunked"):
            await self.send_big(connection, writer, chunked=mode == "big-chunked")
            return False
        if mode == "nested":
            body = b"[" * NESTED_DEPTH
        elif mode == "not-json":
            body = b"<html>not json</html>"
        else:
            body = b""
        if mode in ("nested", "not-json"):
            writer.write(_head(200, len(body)) + body)
            await writer.drain()
            return True
        # drip or stall: a JSON body promised, then delivered slowly or never
        writer.write(_head(200, DRIP_BYTES) + b'{"a":')
        await writer.drain()
        connection.body_bytes_sent = 5
        interval = DRIP_INTERVAL if mode == "drip" else 3600
        for _ in range(DRIP_BYTES - 5):
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(1), interval) == b"":
                    return False  # the client went away
            writer.write(b" ")
            await writer.drain()
            connection.body_bytes_sent += 1
        return False

    async def send_big(self, connection: Exchange, writer, chunked: bool) -> None:
        extra = b"Transfer-Encoding: chunked\r\n" if chunked else b""
        writer.write(_head(200, None if chunked else BIG_BODY, extra))
        piece = b'{"pad": "' + b"x" * (CHUNK - 9)
        sent = 0
        while sent < BIG_BODY:
            data = piece if sent == 0 else b"x" * CHUNK
            data = data[: BIG_BODY - sent - 2] if sent + len(data) >= BIG_BODY - 2 else data
            if sent + len(data) == BIG_BODY - 2:
                data += b'"}'
            writer.write(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data)
            await writer.drain()
            sent += len(data)
            connection.body_bytes_sent = sent
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()


def _head(status: int, length: int | None, extra: bytes = b"") -> bytes:
    length_header = b"" if length is None else b"Content-Length: %d\r\n" % length
    return b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\n%b%b\r\n" % (
        status,
        length_header,
        extra,
    )


@contextlib.contextmanager
def hostile_upstream() -> Iterator[HostileUpstream]:
    """The server, on a free loopback port, for the block's duration."""
    upstream = HostileUpstream()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict = {}

    async def start() -> None:
        server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0, limit=2**16)
        upstream.port = server.sockets[0].getsockname()[1]
        holder["server"] = server
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    if not started.wait(10):
        raise RuntimeError("the hostile upstream did not start")
    try:
        yield upstream
    finally:

        async def stop() -> None:
            holder["server"].close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
