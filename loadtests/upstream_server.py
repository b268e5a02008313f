"""A light upstream service for the fan-out views, and faults on demand.

One aiohttp process on uvloop: a call costs it a timer and a small JSON body, so it is never
what limits a benchmark (the sweep records its CPU to show that). Paths:

- ``/api/``: sleeps ``delay`` seconds, answers ``{"message", "task_id", "delay"}``;
- ``/status/<code>/``: answers that status at once (a 5xx upstream);
- ``/reset/``: closes the connection without an answer (a crashed upstream);
- ``/fail-odd/``: odd ``task_id`` answer 503, even ones behave like ``/api/`` (partial failure);
- ``/healthz``;
- ``/metrics``: the process's CPU and memory, so Prometheus shows whether the upstream is busy.

Run: ``python -m loadtests.upstream_server --port 8001`` (loopback only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dashboards.prometheus_server import UPSTREAM_PORT
from mysite.launcher import LOOPBACK, RunningProcess, free_port, managed_process

MAX_DELAY = 60.0
DEFAULT_PORT = UPSTREAM_PORT  # where `make run` starts it and `make observe` scrapes it


def _delay(request: web.Request) -> float:
    try:
        delay = float(request.query.get("delay", "0"))
    except ValueError:
        raise web.HTTPBadRequest(text="delay must be a number") from None
    if not math.isfinite(delay) or not 0 <= delay <= MAX_DELAY:
        raise web.HTTPBadRequest(text="delay out of range")
    return delay


async def api(request: web.Request) -> web.Response:
    delay = _delay(request)
    await asyncio.sleep(delay)
    return web.json_response(
        {"message": "Hello World!", "task_id": request.query.get("task_id"), "delay": delay}
    )


async def status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    return web.json_response({"error": f"status {code} on request"}, status=code)


async def reset(request: web.Request) -> web.Response:
    request.transport.abort()
    raise asyncio.CancelledError  # nothing more is sent on an aborted connection


async def fail_odd(request: web.Request) -> web.Response:
    task_id = request.query.get("task_id", "0")
    if task_id.isdigit() and int(task_id) % 2 == 1:
        return web.json_response({"error": "odd task ids fail"}, status=503)
    return await api(request)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    # prometheus_client's default registry: process_cpu_seconds_total, resident memory, GC.
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/api/", api)
    app.router.add_get(r"/status/{code:\d{3}}/", status)
    app.router.add_get("/reset/", reset)
    app.router.add_get("/fail-odd/", fail_odd)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


@contextlib.contextmanager
def serve_upstream(
    port: int | None = None, cpus: set[int] | None = None, ready_timeout: float = 30.0
) -> Iterator[RunningProcess]:
    """Run the upstream as its own process on loopback for the block's duration."""
    port = port or free_port()
    argv = [sys.executable, "-m", "loadtests.upstream_server", "--port", str(port)]
    with managed_process(
        f"upstream-{port}",
        argv,
        f"http://{LOOPBACK}:{port}",
        cpus=cpus,
        ready_timeout=ready_timeout,
    ) as running:
        yield running


def main() -> None:
    parser = argparse.ArgumentParser(
        description="A light upstream for the fan-out views.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="loopback port")
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    # Loopback only: this service exists for the lab's own load, never for a network.
    web.run_app(
        make_app(), host=LOOPBACK, port=args.port, access_log=None, print=None, backlog=4096
    )


if __name__ == "__main__":
    main()
