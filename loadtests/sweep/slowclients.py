"""Slow clients and normal users, measured: what N connections that trickle their request
headers do to everyone else's latency and throughput.

A slow client sends a request line and then one header line every ``TRICKLE_INTERVAL`` seconds,
never finishing its headers (a phone on a bad network, or slowloris). A server that gives each
connection a thread while it reads the request (gunicorn's gthread) runs out of threads; one
that reads requests on an event loop (uvicorn, granian's Rust I/O) does not.

Used by ``tests/reliability/test_slow_clients.py`` (N = 0, 50, 200) and, in a short form
(``short_run``: N = 0 and ``SHORT_SLOW_CLIENTS``), by the sweep's server-life phase.
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
from pathlib import Path
from urllib.parse import urlsplit

from loadtests.analysis.records import SlowClientsRun, SlowClientsWindow
from mysite.launcher import ServerFailed, serve
from mysite.servers import WSGI_KINDS

TRICKLE_INTERVAL = 0.5
USER_TIMEOUT = 3.0  # a normal user gives up after this long
WORKERS = 2
USERS = 4  # normal users, each in a closed loop with a new connection per request
SECONDS = 2.0  # each window
SHORT_SLOW_CLIENTS = 50  # the short form's one N > 0: above any kind's threads at 2 workers


def path_for(kind: str) -> str:
    """The view a kind's normal users ask for: a WSGI kind's is the sync one, an ASGI kind's the
    async one."""
    return "/sync/api/?delay=0" if kind in WSGI_KINDS else "/async/api/?delay=0"


def describe_window(window: SlowClientsWindow) -> str:
    latency = (
        f"p50 {window.p50_ms:.0f} ms, p99 {window.p99_ms:.0f} ms"
        if window.p50_ms is not None
        else "no answer"
    )
    return f"N={window.slow_clients}: {window.rps:.0f} req/s, {latency}, {window.failures} failed"


def describe(run: SlowClientsRun) -> str:
    if run.error:
        return f"{run.server}: failed: {run.error}"
    return f"{run.server} ({run.workers} workers): " + "; ".join(map(describe_window, run.windows))


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


def measure(
    url: str, path: str, slow_clients: int, users: int = USERS, seconds: float = SECONDS
) -> SlowClientsWindow:
    with trickling(url, slow_clients):
        time.sleep(TRICKLE_INTERVAL * 2)  # every slow connection accepted and being read
        latencies, failures = normal_users(url, path, users, seconds)
    ms = sorted(latency * 1000 for latency in latencies)
    return SlowClientsWindow(
        slow_clients=slow_clients,
        requests=len(ms),
        failures=failures,
        rps=round(len(ms) / seconds, 1),
        p50_ms=round(statistics.median(ms), 1) if ms else None,
        p99_ms=round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1) if ms else None,
    )


def short_run(
    kind: str,
    threads: int,
    log_dir: Path,
    ready_timeout: float,
    counts: tuple[int, ...] = (0, SHORT_SLOW_CLIENTS),
) -> SlowClientsRun:
    """``kind`` with ``WORKERS`` workers: one window per slow-client count; a server that
    fails is the record's ``error``."""
    run = SlowClientsRun(
        server=kind,
        workers=WORKERS,
        threads=threads,
        path=path_for(kind),
        users=USERS,
        seconds=SECONDS,
        trickle_interval_s=TRICKLE_INTERVAL,
        user_timeout_s=USER_TIMEOUT,
    )
    try:
        with serve(
            kind,
            WORKERS,
            threads=threads,
            env={"MYSITE_LOG_LEVEL": "WARNING"},
            ready_timeout=ready_timeout,
            log_dir=log_dir,
            system_checks=False,
        ) as server:
            run.windows = [measure(server.url, run.path, n) for n in counts]
    except (ServerFailed, OSError) as error:
        run.error = str(error) or type(error).__name__
    return run
