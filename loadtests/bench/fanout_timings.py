"""The headline, timed: ``fanout`` upstream calls of ``delay`` seconds each, through each view.

Concurrent fan-outs take about one call's time, the sequential baseline the sum of the calls.
Serves the app (uvicorn, 2 workers) and a separate upstream on loopback, warms each view up,
then times ``--repeats`` requests per view, one at a time, and prints the medians.

    python -m loadtests.bench.fanout_timings [--delay 1.0] [--fanout 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from loadtests.upstream_server import serve_upstream
from mysite.launcher import serve

VIEWS = (
    ("/async/api_aggregated/", "async view, httpx.AsyncClient, concurrent"),
    ("/sync/api_aggregated/", "sync view, thread pool, concurrent"),
    ("/sync/api_sequential/", "sync view, one call after the other"),
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--delay", type=float, default=1.0, help="seconds each upstream call waits")
    parser.add_argument("--fanout", type=int, default=10, help="upstream calls per request")
    parser.add_argument("--repeats", type=int, default=3, help="requests timed per view")
    parser.add_argument(
        "--transport", choices=("httpx", "aiohttp"), default="httpx", help="async views' transport"
    )
    args = parser.parse_args()
    params = {"delay": args.delay, "fanout": args.fanout}
    env_timeout = str(args.delay * args.fanout + 5)
    with (
        serve_upstream() as upstream,
        serve(
            "uvicorn",
            workers=2,
            env={
                "UPSTREAM_URL": upstream.url + "/api/",
                "UPSTREAM_TIMEOUT": env_timeout,
                "UPSTREAM_TRANSPORT": args.transport,
            },
        ) as app,
        httpx.Client(timeout=args.delay * args.fanout + 30) as client,
    ):
        rows = []
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
    print(
        f"\n{args.fanout} upstream calls of {args.delay:g} s each, uvicorn with 2 workers, "
        f"{args.transport} transport, {args.repeats} requests per view:\n"
    )
    print("| view | how | median s | min-max s |")
    print("|---|---|---|---|")
    for path, what, seconds in rows:
        print(
            f"| `{path}` | {what} | {statistics.median(seconds):.2f} "
            f"| {min(seconds):.2f}-{max(seconds):.2f} |"
        )


if __name__ == "__main__":
    main()
