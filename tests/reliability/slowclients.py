"""Slow clients and normal users, measured: what N connections that trickle their request
headers do to everyone else's latency and throughput.

A slow client sends a request line and then one header line every ``TRICKLE_INTERVAL`` seconds,
never finishing its headers (a phone on a bad network, or slowloris). A server that gives each
connection a thread while it reads the request (gunicorn's gthread) runs out of threads; one
that reads requests on an event loop (uvicorn, granian's Rust I/O) does not.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

TRICKLE_INTERVAL = 0.5
USER_TIMEOUT = 3.0  # a normal user gives up after this long


@dataclass(frozen=True)
class Window:
    """What the normal users got during one measuring window."""

    slow_clients: int
    requests: int
    failures: int
    rps: float
    p50_ms: float | None
    p99_ms: float | None

    def __str__(self) -> str:
        latency = (
            f"p50 {self.p50_ms:.0f} ms, p99 {self.p99_ms:.0f} ms"
            if self.p50_ms is not None
            else "no answer"
        )
        return f"N={self.slow_clients}: {self.rps:.0f} req/s, {latency}, {self.failures} failed"


@contextlib.contextmanager
def trickling(url: str, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that send their headers forever, one line at a time."""
    address = urlsplit(url)
    sockets: list[socket.socket] = []
    stop = threading.Event()
    try:
        for _ in range(count):
            sock = socket.create_connection((address.hostname, address.port), timeout=5)
            sock.sendall(b"GET /sync/api/?delay=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sockets.append(sock)

        def trickle() -> None:
            while not stop.wait(TRICKLE_INTERVAL):
                for sock in sockets:
                    with contextlib.suppress(OSError):
                        sock.send(b"X-Slow: 1\r\n")

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        yield sockets
    finally:
        stop.set()
        for sock in sockets:
            sock.close()


def normal_users(url: str, path: str, users: int, seconds: float) -> tuple[list[float], int]:
    """``users`` clients in a closed loop for ``seconds``: latencies of answered requests and
    the count of failed ones (no answer within ``USER_TIMEOUT``, refused, reset)."""
    address = urlsplit(url)
    until = time.monotonic() + seconds

    def user(_) -> tuple[list[float], int]:
        latencies, failures = [], 0
        while time.monotonic() < until:
            started = time.monotonic()
            connection = http.client.HTTPConnection(
                address.hostname, address.port, timeout=USER_TIMEOUT
            )
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    latencies.append(time.monotonic() - started)
                else:
                    failures += 1
            except OSError:
                failures += 1
            finally:
                connection.close()
        return latencies, failures

    with ThreadPoolExecutor(users) as pool:
        results = list(pool.map(user, range(users)))
    return [lat for lats, _ in results for lat in lats], sum(f for _, f in results)


def measure(url: str, path: str, slow_clients: int, users: int, seconds: float) -> Window:
    with trickling(url, slow_clients):
        time.sleep(TRICKLE_INTERVAL * 2)  # every slow connection accepted and being read
        latencies, failures = normal_users(url, path, users, seconds)
    ms = sorted(latency * 1000 for latency in latencies)
    return Window(
        slow_clients,
        len(ms),
        failures,
        len(ms) / seconds,
        statistics.median(ms) if ms else None,
        ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else None,
    )
