"""What an upstream call costs the app's CPU, with httpx's own transport and with aiohttp's.

Both apps run at once (uvicorn, one worker each, the same upstream) and are measured in
alternation, so the machine's drift hits both alike. Each round sends ``calls / fanout``
requests to ``/async/api_aggregated/``, so ``fanout`` upstream calls are in flight at a time,
and reads the worker's CPU time (user + system) before and after.

    python -m loadtests.bench.transport_cpu [--calls 1000] [--fanout 100] [--delay 0.1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics

import httpx

from loadtests.sweep.sampler import tree_cpu_seconds
from loadtests.upstream_server import serve_upstream
from mysite.launcher import serve

TRANSPORTS = ("httpx", "aiohttp")


def one_round(client: httpx.Client, app, calls: int, fanout: int, delay: float) -> float:
    """CPU seconds the app spent on ``calls`` upstream calls."""
    before = tree_cpu_seconds(app.pid)
    for _ in range(calls // fanout):
        response = client.get(
            app.url + "/async/api_aggregated/", params={"delay": delay, "fanout": fanout}
        )
        response.raise_for_status()
    return tree_cpu_seconds(app.pid) - before


def measure(calls: int, fanout: int, delay: float, rounds: int) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {name: [] for name in TRANSPORTS}
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(serve_upstream())
        apps = {
            name: stack.enter_context(
                serve(
                    "uvicorn",
                    workers=1,
                    env={"UPSTREAM_URL": upstream.url + "/api/", "UPSTREAM_TRANSPORT": name},
                )
            )
            for name in TRANSPORTS
        }
        client = stack.enter_context(httpx.Client(timeout=60))
        for app in apps.values():  # open the pools before measuring
            one_round(client, app, fanout, fanout, 0)
        for round_number in range(rounds):
            order = TRANSPORTS if round_number % 2 == 0 else TRANSPORTS[::-1]
            for name in order:
                seconds[name].append(one_round(client, apps[name], calls, fanout, delay))
                print(f"round {round_number + 1}/{rounds} {name}: {seconds[name][-1]:.2f} s CPU")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1000, help="upstream calls per round")
    parser.add_argument("--fanout", type=int, default=100, help="calls at once")
    parser.add_argument("--delay", type=float, default=0.1, help="seconds each call waits")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per transport")
    args = parser.parse_args()
    seconds = measure(args.calls, args.fanout, args.delay, args.rounds)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"\n{args.calls} calls, {args.fanout} at a time, upstream delay {args.delay} s:")
    print("| transport | app CPU s (median) | min | max |")
    print("|---|---|---|---|")
    for name, values in seconds.items():
        print(f"| {name} | {medians[name]:.2f} | {min(values):.2f} | {max(values):.2f} |")
    print(f"\nhttpx / aiohttp CPU ratio: {medians['httpx'] / medians['aiohttp']:.1f}x")


if __name__ == "__main__":
    main()
