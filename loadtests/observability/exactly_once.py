"""Does each stack count every request exactly once when the server runs several workers?

For each stack and server kind, 2 workers: ``requests`` requests per route, sent from several
threads on new connections (so both workers serve), then what the stack exports is read:

- ``lab``: ``/metrics`` (its histogram's count by ``http_route``, merged across workers);
- ``django-prometheus``: the same ``/metrics``, its latency histogram's count by view name
  (prometheus_client writes its values to ``PROMETHEUS_MULTIPROC_DIR``, which the launcher sets
  for every server, and the lab's exposition merges that directory);
- ``opentelemetry``: the lab's OTLP receiver, after the server stopped and its workers flushed:
  server spans by route, ``http.server.request.duration``'s count by route and, for the
  fan-out, the httpx client spans (one per upstream call);
- ``none``: the lab's histogram, which must count nothing.

    python -m loadtests.observability.exactly_once [--requests 200] [--servers uvicorn,...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import msgspec
from prometheus_client.parser import text_string_to_metric_families

from loadtests.sweep.cell import wait_for_workers
from loadtests.upstream_server import serve_upstream
from mysite.launcher import serve
from mysite.metrics import names

from .receiver import Counts
from .stacks import STACK_NAMES, parse_stacks, prepared

WORKERS = 2
SERVERS = ("uvicorn", "gunicorn-gthread")
FANOUT = 3
# Each route once with no wait; the fan-out makes FANOUT upstream calls a request.
QUERIES = {
    "/async/api/": "delay=0",
    "/sync/api/": "delay=0",
    "/async/api_aggregated/": f"delay=0&fanout={FANOUT}",
}
CLIENT_THREADS = 8
DEFAULT_REQUESTS = 200
# django-prometheus's per-view latency histogram (its view label is the route's URL name).
DJANGO_PROMETHEUS_COUNT = "django_http_requests_latency_seconds_by_view_method"
OTEL_SERVER_DURATION = "http.server.request.duration"
# When the receiver is read: right after the load, the server still up (what a backend shows
# then), and after the server stopped (its workers flushed).
LIVE = "at the load's end"
FLUSHED = "after the stop"


class Figure(msgspec.Struct, frozen=True):
    stack: str
    server: str
    workers: int
    route: str
    sent: int
    source: str  # what was read
    expected: int
    counted: int

    @property
    def exact(self) -> bool:
        return self.counted == self.expected


def _get(url: str, accept: str = "*/*") -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
        return response.read()


def _send_load(base: str, requests: int) -> None:
    urls = [f"{base}{path}?{query}" for path, query in QUERIES.items() for _ in range(requests)]
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(_get, urls))  # raises on the first failed request


def _histogram_counts(exposition: str, family: str, label: str) -> dict[str, int]:
    """``family``'s ``_count`` samples summed by ``label``."""
    counts: dict[str, int] = {}
    for metric in text_string_to_metric_families(exposition):
        for sample in metric.samples:
            if sample.name == f"{family}_count" and label in sample.labels:
                key = sample.labels[label]
                counts[key] = counts.get(key, 0) + int(sample.value)
    return counts


def _url_names(base: str) -> dict[str, str]:
    """Route path -> URL name, from the app's own catalogue (``/``)."""
    routes = json.loads(_get(f"{base}/", "application/json"))["routes"]
    return {route["path"]: route["name"] for route in routes}


def _from_metrics(stack: str, server: str, base: str, requests: int) -> list[Figure]:
    exposition = _get(f"{base}/metrics").decode()
    figure = {"stack": stack, "server": server, "workers": WORKERS, "sent": requests}
    if stack == "django-prometheus":
        by_view = _histogram_counts(exposition, DJANGO_PROMETHEUS_COUNT, "view")
        url_names = _url_names(base)
        return [
            Figure(
                **figure,
                route=path,
                source=f"/metrics {DJANGO_PROMETHEUS_COUNT}_count",
                expected=requests,
                counted=by_view.get(url_names[path], 0),
            )
            for path in QUERIES
        ]
    by_route = _histogram_counts(exposition, names.SERVER_DURATION, names.ROUTE)
    expected = 0 if stack == "none" else requests
    return [
        Figure(
            **figure,
            route=path,
            source=f"/metrics {names.SERVER_DURATION}_count",
            expected=expected,
            counted=by_route.get(path, 0),
        )
        for path in QUERIES
    ]


def _from_receiver(server: str, counts: Counts, requests: int, when: str) -> list[Figure]:
    """The receiver's counts; OpenTelemetry's route is Django's pattern (no leading slash)."""
    figure = {"stack": "opentelemetry", "server": server, "workers": WORKERS, "sent": requests}
    histogram = counts.histogram_counts.get(OTEL_SERVER_DURATION, {})
    figures = []
    for path in QUERIES:
        route = path.lstrip("/")
        figures += [
            Figure(
                **figure,
                route=path,
                source=f"receiver {when}: server spans",
                expected=requests,
                counted=counts.server_spans_by_route.get(route, 0),
            ),
            Figure(
                **figure,
                route=path,
                source=f"receiver {when}: {OTEL_SERVER_DURATION} count",
                expected=requests,
                counted=histogram.get(route, 0),
            ),
        ]
    fanout = next(p for p, q in QUERIES.items() if "fanout" in q)
    figures.append(
        Figure(
            **figure,
            route=fanout,
            source=f"receiver {when}: client spans (httpx, all routes)",
            expected=requests * FANOUT,
            counted=counts.span_total("CLIENT"),
        )
    )
    return figures


@contextlib.contextmanager
def _serving(stack_env: dict[str, str], server: str, upstream_url: str) -> Iterator[str]:
    env = {**stack_env, "UPSTREAM_URL": upstream_url}
    with serve(server, WORKERS, env=env) as running:
        wait_for_workers(running.url, WORKERS)
        yield running.url


def measure(stack: str, server: str, requests: int, upstream_url: str) -> list[Figure]:
    """One stack under one server kind with 2 workers: what it counted of ``requests`` a route."""
    with prepared(stack) as ready:
        with _serving(ready.env, server, upstream_url) as base:
            _send_load(base, requests)
            if ready.receiver_url is None:
                return _from_metrics(stack, server, base, requests)
            # What a backend has while the load has just ended, before any worker flushed.
            live = _from_receiver(server, ready.receiver_counts(), requests, LIVE)
        # The server has stopped: every worker flushed its spans and metrics on the way out.
        return live + _from_receiver(server, ready.receiver_counts(), requests, FLUSHED)


def measure_all(stacks: list[str], servers: list[str], requests: int) -> list[Figure]:
    with serve_upstream() as upstream:
        return [
            figure
            for server in servers
            for stack in stacks
            for figure in measure(stack, server, requests, f"{upstream.url}/api/")
        ]


def table(figures: list[Figure]) -> str:
    lines = [
        "| stack | server x workers | route | sent | what was read | expected | counted | exact |",
        "|---|---|---|---:|---|---:|---:|---|",
    ]
    for f in figures:
        lines.append(
            f"| {f.stack} | {f.server} x {f.workers} | `{f.route}` | {f.sent} | {f.source} "
            f"| {f.expected} | {f.counted} | {'yes' if f.exact else '**no**'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.observability.exactly_once",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="per route")
    parser.add_argument("--servers", default=",".join(SERVERS), help="server kinds")
    parser.add_argument("--stacks", default=",".join(STACK_NAMES), help="stacks")
    args = parser.parse_args(argv)
    figures = measure_all(parse_stacks(args.stacks), args.servers.split(","), args.requests)
    print(table(figures))


if __name__ == "__main__":
    main()
