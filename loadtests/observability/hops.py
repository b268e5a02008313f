"""Thread hops under ASGI, per instrumentation stack: what each adds to every request.

A hop is a call that crosses between the event loop and a thread through asgiref:
``sync_to_async`` (the loop hands work to a thread and waits for it) or ``async_to_sync`` (a
thread hands work back to the loop). Django pays them for a ``MiddlewareMixin``'s hooks
(``process_request``, ``process_view``, ``process_response``) and for a middleware that is sync
only, under ASGI (``mysite/security.py`` says what two of them cost an async view here). The
lab's own middleware is async-native and adds none (tests/metrics/test_middleware.py).

Counted on the real ASGI application (``mysite.asgi:application``, as every ASGI server runs it)
in a fresh process per stack, with the stack's settings and environment: asgiref's
``SyncToAsync.__call__`` and ``AsyncToSync.__call__`` are wrapped to count, and requests go
through the application's own ASGI interface. Django's ASGI handler has hops of its own (and a
sync view one more); ``none`` measures them, so each stack's figure minus ``none``'s is what the
stack adds.

    python -m loadtests.observability.hops [--requests 20]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import subprocess
import sys
from collections import Counter

import msgspec

from loadtests.model.experiment import STACK_NAMES

from .stacks import prepared

# An async view and a sync one, with no wait, so nothing but the stack differs.
ROUTES = ("/async/api/", "/sync/api/")
QUERY = b"delay=0"
DEFAULT_REQUESTS = 20
REQUEST_TIMEOUT = 30  # seconds, for one request in process


class RouteHops(msgspec.Struct, frozen=True):
    sync_to_async: float  # per request
    async_to_sync: float

    @property
    def total(self) -> float:
        return self.sync_to_async + self.async_to_sync


# --- in the measured process -------------------------------------------------------------------

_counts: Counter[str] = Counter()


def _count_hops() -> None:
    from asgiref import sync

    to_thread, to_loop = sync.SyncToAsync.__call__, sync.AsyncToSync.__call__

    async def counted_to_thread(self, *args, **kwargs):
        _counts["sync_to_async"] += 1
        return await to_thread(self, *args, **kwargs)

    def counted_to_loop(self, *args, **kwargs):
        _counts["async_to_sync"] += 1
        return to_loop(self, *args, **kwargs)

    sync.SyncToAsync.__call__ = counted_to_thread
    sync.AsyncToSync.__call__ = counted_to_loop


async def _request(application, path: str) -> int:
    """One GET through the application's ASGI interface, as a server sends it; its status."""
    from asgiref.testing import ApplicationCommunicator

    client = ApplicationCommunicator(
        application,
        {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": QUERY,
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        },
    )
    await client.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await client.receive_output(REQUEST_TIMEOUT)
    await client.wait(REQUEST_TIMEOUT)  # the response sent, the application returns
    return start["status"]


async def _measure(requests: int) -> dict[str, RouteHops]:
    from mysite.asgi import application

    routes = {}
    for path in ROUTES:
        if await _request(application, path) != 200:  # the first request warms up, uncounted
            raise RuntimeError(f"{path} did not answer 200")
        _counts.clear()
        for _ in range(requests):
            await _request(application, path)
        routes[path] = RouteHops(
            _counts["sync_to_async"] / requests, _counts["async_to_sync"] / requests
        )
    return routes


# --- from the measuring side -------------------------------------------------------------------


@functools.cache  # once per stack and process: the counts do not vary
def count_hops(stack: str, requests: int = DEFAULT_REQUESTS) -> dict[str, RouteHops]:
    """Hops per request on each of ``ROUTES`` under ``stack``, by route (a fresh process)."""
    with prepared(stack) as ready:
        result = subprocess.run(
            [sys.executable, "-m", "loadtests.observability.hops", "--measured", str(requests)],
            env={**os.environ, **ready.env, "DJANGO_SECRET_KEY": "hops-" + "x" * 50},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"counting hops under {stack} failed:\n{result.stderr[-3000:]}")
    return msgspec.json.decode(result.stdout.splitlines()[-1], type=dict[str, RouteHops])


def hops_per_request(stack: str, path: str) -> float | None:
    """What a request to ``path`` pays in hops under ``stack`` (a capacity phase asks for each
    entry); None for a route ``ROUTES`` does not hold."""
    return count_hops(stack)[path].total if path in ROUTES else None


def table(stacks: list[str], requests: int = DEFAULT_REQUESTS) -> str:
    """Markdown: hops per request by stack and route, and what each stack adds to ``none``'s."""
    baseline = count_hops("none", requests)
    lines = [
        "| stack | route | sync_to_async | async_to_sync | added to `none` |",
        "|---|---|---:|---:|---:|",
    ]
    for stack in stacks:
        for route, hops in count_hops(stack, requests).items():
            lines.append(
                f"| {stack} | `{route}` | {hops.sync_to_async:g} | {hops.async_to_sync:g} "
                f"| {hops.total - baseline[route].total:+g} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.observability.hops",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="per route")
    parser.add_argument("--measured", type=int, metavar="REQUESTS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measured:  # inside the process measured, under the stack's environment
        _count_hops()
        sys.stdout.write(msgspec.json.encode(asyncio.run(_measure(args.measured))).decode() + "\n")
    else:
        print(table(list(STACK_NAMES), args.requests))


if __name__ == "__main__":
    main()
