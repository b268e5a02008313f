"""Two timings of the app's upstream calls, each against fresh apps and an upstream on loopback.

- ``fanout`` (``make bench-fanout``), the headline: ``--fanout`` upstream calls of ``--delay``
  seconds each, through each view. Concurrent fan-outs take about one call's time, the
  sequential baseline the sum of the calls. uvicorn with 2 workers; each view is warmed up, then
  ``--repeats`` requests per view are timed one at a time; the medians.
- ``transport`` (``make bench-transport``): what an upstream call costs the app's CPU with
  httpx's own transport and with aiohttp's. Both apps run at once (uvicorn, one worker each, the
  same upstream) and are measured in alternation, so the machine's drift hits both alike. Each
  round sends ``calls / fanout`` requests to ``/async/api_aggregated/``, so ``fanout`` upstream
  calls are in flight at a time, and reads the worker's CPU time (user + system) around it.

    python -m loadtests.bench.timings fanout [--delay 1.0] [--fanout 10] [--repeats 3]
    python -m loadtests.bench.timings transport [--calls 1000] [--fanout 100] [--delay 0.1]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Iterator

import httpx

from loadtests.sweep.sampler import tree_cpu_seconds
from loadtests.upstream_server import serve_upstream
from mysite.launcher import RunningProcess, serve

from .render import markdown

TRANSPORTS = ("httpx", "aiohttp")
VIEWS = (
    ("/async/api_aggregated/", "async view, httpx.AsyncClient, concurrent"),
    ("/sync/api_aggregated/", "sync view, thread pool, concurrent"),
    ("/sync/api_sequential/", "sync view, one call after the other"),
)


@contextlib.contextmanager
def _apps(
    transports: tuple[str, ...], workers: int, timeout: float, env: dict[str, str]
) -> Iterator[tuple[dict[str, RunningProcess], httpx.Client]]:
    """One uvicorn app per upstream transport, all calling one upstream, and a client."""
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(serve_upstream())
        app_env = {**env, "UPSTREAM_URL": upstream.url + "/api/"}
        apps = {
            name: stack.enter_context(
                serve("uvicorn", workers, env={**app_env, "UPSTREAM_TRANSPORT": name})
            )
            for name in transports
        }
        yield apps, stack.enter_context(httpx.Client(timeout=timeout))


def fanout(args: argparse.Namespace) -> None:
    params = {"delay": args.delay, "fanout": args.fanout}
    env = {"UPSTREAM_TIMEOUT": str(args.delay * args.fanout + 5)}
    rows = []
    with _apps((args.transport,), 2, args.delay * args.fanout + 30, env) as (apps, client):
        app = apps[args.transport]
        for path, what in VIEWS:
            for _ in range(4):  # both workers open their pools before anything is timed
                client.get(app.url + path, params={"delay": 0, "fanout": args.fanout})
            seconds = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                response = client.get(app.url + path, params=params)
                seconds.append(time.perf_counter() - started)
                response.raise_for_status()
            rows.append((path, what, seconds))
    print(markdown("timings.md.j2", "fanout", args=args, rows=rows, median=statistics.median))


def _cpu_round(client: httpx.Client, app: RunningProcess, calls: int, fanout: int, delay: float):
    """CPU seconds the app spent on ``calls`` upstream calls."""
    before = tree_cpu_seconds(app.pid)
    for _ in range(calls // fanout):
        response = client.get(
            app.url + "/async/api_aggregated/", params={"delay": delay, "fanout": fanout}
        )
        response.raise_for_status()
    return tree_cpu_seconds(app.pid) - before


def transport(args: argparse.Namespace) -> None:
    seconds: dict[str, list[float]] = {name: [] for name in TRANSPORTS}
    with _apps(TRANSPORTS, 1, 60, {}) as (apps, client):
        for app in apps.values():  # open the pools before measuring
            _cpu_round(client, app, args.fanout, args.fanout, 0)
        for round_number in range(args.rounds):
            order = TRANSPORTS if round_number % 2 == 0 else TRANSPORTS[::-1]
            for name in order:
                seconds[name].append(
                    _cpu_round(client, apps[name], args.calls, args.fanout, args.delay)
                )
                print(
                    f"round {round_number + 1}/{args.rounds} {name}: {seconds[name][-1]:.2f} s CPU"
                )
    print(
        markdown("timings.md.j2", "transport", args=args, seconds=seconds, median=statistics.median)
    )


def main(argv: list[str] | None = None) -> None:
    defaults = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench.timings",
        description=__doc__.split("\n\n")[0],
        formatter_class=defaults,
    )
    commands = parser.add_subparsers(dest="command", required=True, help="what to time")
    one = commands.add_parser("fanout", help="fan-out views timed", formatter_class=defaults)
    one.add_argument("--delay", type=float, default=1.0, help="seconds each upstream call waits")
    one.add_argument("--fanout", type=int, default=10, help="upstream calls per request")
    one.add_argument("--repeats", type=int, default=3, help="requests timed per view")
    one.add_argument("--transport", choices=TRANSPORTS, default="httpx", help="async transport")
    one.set_defaults(run=fanout)
    two = commands.add_parser("transport", help="app CPU per call", formatter_class=defaults)
    two.add_argument("--calls", type=int, default=1000, help="upstream calls per round")
    two.add_argument("--fanout", type=int, default=100, help="calls at once")
    two.add_argument("--delay", type=float, default=0.1, help="seconds each call waits")
    two.add_argument("--rounds", type=int, default=3, help="rounds per transport")
    two.set_defaults(run=transport)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
