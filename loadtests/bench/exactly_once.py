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
- ``none``: the lab's histogram, which must count nothing;
- and django-prometheus once more, deployed without ``PROMETHEUS_MULTIPROC_DIR`` (its default):
  each worker's own registry, scraped ``SCRAPES`` times.

With ``--database``, the three database paths too, against a throwaway PostgreSQL (OpenTelemetry
adds the psycopg spans inside each request, by route).

    python -m loadtests.bench.exactly_once [--requests 200] [--servers uvicorn,...]
        [--database]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
from prometheus_client.parser import text_string_to_metric_families

from loadtests.model.experiment import STACK_NAMES
from loadtests.observability.receiver import Counts, counts
from loadtests.observability.stacks import parse_stacks, prepared, server_env
from loadtests.sweep.cell import wait_for_workers
from loadtests.sweep.postgres import Postgres
from loadtests.upstream_server import serve_upstream
from mysite.launcher import LOOPBACK, free_port, managed_process, serve
from mysite.metrics import names
from mysite.servers import DEFAULT_THREADS, WSGI_KINDS, server_argv
from mysite.shutdown import AT_DEFAULTS

from .render import markdown

WORKERS = 2
SERVERS = ("uvicorn", "gunicorn-gthread")
FANOUT = 3
# The routes loaded, with no wait; the fan-out makes FANOUT upstream calls a request.
QUERIES = {
    "/async/api/": "delay=0",
    "/sync/api/": "delay=0",
    "/async/api_aggregated/": f"delay=0&fanout={FANOUT}",
}
# With --database: the three database paths (the native one is ASGI only, per the contract).
DB_QUERIES = {
    "/sync/db/": "delay=0&rows=2",
    "/async/db/": "delay=0&rows=2",
    "/async/db_native/": "delay=0&rows=2",
}
ASGI_ONLY = frozenset({"/async/db_native/"})
CLIENT_THREADS = 8
SCRAPES = 10  # of django-prometheus's single-process registries, each on a new connection
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
    server: str  # under WORKERS workers
    route: str
    sent: int
    source: str  # what was read
    expected: int | None  # None: no exact figure to expect (reported per request)
    counted: int

    @property
    def exact(self) -> bool | None:
        return None if self.expected is None else self.counted == self.expected


def _get(url: str, accept: str = "*/*") -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
        return response.read()


def queries_for(server: str, database: bool) -> dict[str, str]:
    """The routes to load under ``server`` (with the database paths when ``database``)."""
    chosen = dict(QUERIES)
    if database:
        chosen |= {
            p: q for p, q in DB_QUERIES.items() if not (p in ASGI_ONLY and server in WSGI_KINDS)
        }
    return chosen


def _expected_inner(query: str, requests: int) -> int | None:
    """Spans inside the requests to a route: one per upstream call; a query's count is the
    database path's own (pool checks, transactions), so it is reported, not expected."""
    if "fanout" in query:
        return requests * FANOUT
    return None if "rows" in query else 0


def _send_load(base: str, queries: dict[str, str], requests: int) -> None:
    urls = [f"{base}{path}?{query}" for path, query in queries.items() for _ in range(requests)]
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


def _from_metrics(
    stack: str, server: str, base: str, queries: dict[str, str], requests: int
) -> list[Figure]:
    """The ``/metrics`` histogram's count per route: django-prometheus's by view name (the
    route's URL name), the lab's by ``http_route``; ``none`` must count nothing."""
    if stack == "django-prometheus":
        family, label, keys = DJANGO_PROMETHEUS_COUNT, "view", _url_names(base)
    else:
        family, label, keys = names.SERVER_DURATION, names.ROUTE, {p: p for p in queries}
    counted = _histogram_counts(_get(f"{base}/metrics").decode(), family, label)
    expected = 0 if stack == "none" else requests
    source = f"/metrics {family}_count"
    return [
        Figure(stack, server, p, requests, source, expected, counted.get(keys[p], 0))
        for p in queries
    ]


def _from_receiver(
    server: str, counts: Counts, queries: dict[str, str], requests: int, when: str
) -> list[Figure]:
    """The receiver's counts; OpenTelemetry's route is Django's pattern (no leading slash)."""
    histogram = counts.histogram_counts.get(OTEL_SERVER_DURATION, {})
    figures = []
    for path, query in queries.items():
        route = path.lstrip("/")
        inner = counts.inner_spans_by_route.get(route, {})
        for source, expected, counted in (
            ("server spans", requests, counts.server_spans_by_route.get(route, 0)),
            (f"{OTEL_SERVER_DURATION} count", requests, histogram.get(route, 0)),
            (
                f"spans inside ({', '.join(inner) or 'none'})",
                _expected_inner(query, requests),
                sum(inner.values()),
            ),
        ):
            source = f"receiver {when}: {source}"
            figures.append(
                Figure("opentelemetry", server, path, requests, source, expected, counted)
            )
    return figures


def measure(
    stack: str, server: str, requests: int, app_env: dict[str, str], database: bool = False
) -> list[Figure]:
    """One stack under one server kind with 2 workers: what it counted of ``requests`` a route.

    ``app_env``: what the app needs besides the stack (``UPSTREAM_URL``, ``DATABASE_URL``)."""
    queries = queries_for(server, database)
    with prepared(stack) as ready:
        with serve(server, WORKERS, env={**app_env, **ready.env}) as running:
            base = running.url
            wait_for_workers(base, WORKERS)
            _send_load(base, queries, requests)
            if ready.receiver_url is None:
                return _from_metrics(stack, server, base, queries, requests)
            # What a backend has while the load has just ended, before any worker flushed.
            live = _from_receiver(server, counts(ready.receiver_url), queries, requests, LIVE)
        # The server has stopped: every worker flushed its spans and metrics on the way out.
        return live + _from_receiver(server, counts(ready.receiver_url), queries, requests, FLUSHED)


def single_process_registries(requests: int, app_env: dict[str, str]) -> list[Figure]:
    """django-prometheus as deployed without ``PROMETHEUS_MULTIPROC_DIR`` (its default): uvicorn
    with 2 workers started directly, not by the lab's launcher (which always sets it), so each
    worker keeps its own registry and a scrape answers from whichever worker takes it. What
    ``SCRAPES`` scrapes on new connections said, per route."""
    port = free_port()
    argv = server_argv("uvicorn", WORKERS, LOOPBACK, port, DEFAULT_THREADS, AT_DEFAULTS)
    env = {**os.environ, **app_env, **server_env("django-prometheus")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)  # as the launcher makes one
    url = f"http://{LOOPBACK}:{port}"
    with managed_process(f"django-prometheus-single-{port}", argv, url, env=env):
        wait_for_workers(url, WORKERS)
        _send_load(url, QUERIES, requests)
        url_names = _url_names(url)
        scrapes = [
            _histogram_counts(_get(f"{url}/metrics").decode(), DJANGO_PROMETHEUS_COUNT, "view")
            for _ in range(SCRAPES)
        ]
    figures = []
    for path in QUERIES:
        seen = sorted({scrape.get(url_names[path], 0) for scrape in scrapes})
        source = (
            f"/metrics {DJANGO_PROMETHEUS_COUNT}_count without "
            f"PROMETHEUS_MULTIPROC_DIR, {SCRAPES} scrapes said {seen}"
        )
        figures.append(
            Figure("django-prometheus", "uvicorn", path, requests, source, requests, max(seen))
        )
    return figures


def measure_all(
    stacks: list[str], servers: list[str], requests: int, database: bool = False
) -> list[Figure]:
    with contextlib.ExitStack() as running:
        upstream = running.enter_context(serve_upstream())
        app_env = {"UPSTREAM_URL": f"{upstream.url}/api/"}
        if database:
            root = Path(tempfile.mkdtemp(prefix="labpg-"))  # short: a socket path's limit
            running.callback(shutil.rmtree, root, ignore_errors=True)
            app_env |= Postgres(running, root)()
        figures = [
            figure
            for server in servers
            for stack in stacks
            for figure in measure(stack, server, requests, app_env, database)
        ]
        if "django-prometheus" in stacks:
            figures += single_process_registries(requests, app_env)
        return figures


def table(figures: list[Figure]) -> str:
    return markdown("exactly_once.md.j2", figures=figures, workers=WORKERS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench.exactly_once",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="per route")
    parser.add_argument("--servers", default=",".join(SERVERS), help="server kinds")
    parser.add_argument("--stacks", default=",".join(STACK_NAMES), help="stacks")
    parser.add_argument(
        "--database", action="store_true", help="the database paths too (a throwaway PostgreSQL)"
    )
    args = parser.parse_args(argv)
    stacks = parse_stacks(args.stacks)
    print(table(measure_all(stacks, args.servers.split(","), args.requests, args.database)))


if __name__ == "__main__":
    main()
