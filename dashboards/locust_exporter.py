"""Locust's client-side statistics as a Prometheus exporter, headless or not, local or distributed.

The locustfile imports it (``import dashboards.locust_exporter``) and that is all: on import it
adds two command-line options to Locust and, once
Locust has created its runner, serves ``/metrics`` on

- ``--exporter-host`` (env ``LOCUST_EXPORTER_HOST``, default ``127.0.0.1``),
- ``--exporter-port`` (env ``LOCUST_EXPORTER_PORT``, default ``9646``; ``0`` turns it off),

from the process that holds the test's statistics: the local runner, or the master in
distributed mode (whose statistics merge every worker's reports). Workers serve nothing.

A scrape reads the runner's statistics as they are at that moment: per request name and
method, the requests (failures included), the failures, a response-time histogram built from
Locust's own response-time table (so its resolution is Locust's: 1 ms below 100 ms, about two
significant digits above), and the running user count. Locust's "reset stats" and a new test in
the web UI start the counters again from zero, which Prometheus's ``rate()`` handles as a reset.

Imported anywhere Locust is not running (the dashboards read the metric names below), it has no
effect: it neither imports Locust (nor gevent) nor registers anything.
"""

from __future__ import annotations

import bisect
import logging
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

# The names a Prometheus query uses; the dashboards read them from here.
REQUESTS = "locust_requests_total"
FAILURES = "locust_request_failures_total"
RESPONSE_TIME = "locust_response_time_seconds"
USERS = "locust_users"
# prometheus_client's process collector, for the exporting process's own CPU.
PROCESS_CPU = "process_cpu_seconds_total"
NAME = "name"
METHOD = "method"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9646

# Upper bounds of the response-time histogram, in seconds. Close to the app's server-side
# buckets so that both sides of a dashboard read alike, without the sub-millisecond and the
# 1.01/1.025/1.05 s bounds that lie below the resolution of Locust's response-time table.
BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    1.1,
    1.25,
    1.5,
    2.5,
    5.0,
    7.5,
    10.0,
    15.0,
    20.0,
    30.0,
    60.0,
)

logger = logging.getLogger(__name__)


class LocustCollector:
    """A prometheus_client collector reading a runner's statistics at scrape time."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Any]:
        labels = [NAME, METHOD]
        requests = CounterMetricFamily(
            REQUESTS.removesuffix("_total"),
            "Requests Locust made, failures included, per request name and method.",
            labels=labels,
        )
        failures = CounterMetricFamily(
            FAILURES.removesuffix("_total"),
            "Requests Locust counted as failed, per request name and method.",
            labels=labels,
        )
        response_time = HistogramMetricFamily(
            RESPONSE_TIME,
            "Response times Locust measured, per request name and method.",
            labels=labels,
        )
        # Greenlets only switch on I/O, so the entries cannot change while this loop runs.
        for entry in list(self.runner.stats.entries.values()):
            key = [str(entry.name), str(entry.method)]
            requests.add_metric(key, entry.num_requests)
            failures.add_metric(key, entry.num_failures)
            buckets = histogram_buckets(entry.response_times.items())
            response_time.add_metric(key, buckets, entry.total_response_time / 1000.0)
        users = GaugeMetricFamily(USERS, "Locust users running now (all workers).")
        users.add_metric([], self.runner.user_count)
        yield from (requests, failures, response_time, users)


def histogram_buckets(
    response_times: Iterable[tuple[int, int]], bounds: tuple[float, ...] = BUCKETS
) -> list[tuple[str, int]]:
    """Cumulative ``(le, count)`` pairs, ``+Inf`` last, from Locust's ``{ms: count}`` table."""
    bounds_ms = [bound * 1000.0 for bound in bounds]
    counts = [0] * (len(bounds) + 1)
    for milliseconds, count in response_times:
        counts[bisect.bisect_left(bounds_ms, milliseconds)] += count
    cumulative, total = [], 0
    for bound, count in zip((*(repr(b) for b in bounds), "+Inf"), counts, strict=True):
        total += count
        cumulative.append((bound, total))
    return cumulative


# --- Locust hooks ------------------------------------------------------------------------------


def add_arguments(parser: Any) -> None:
    # On the parser itself: Locust's own argument groups do not take ``include_in_web_ui``.
    parser.add_argument(
        "--exporter-host",
        default=DEFAULT_HOST,
        env_var="LOCUST_EXPORTER_HOST",
        include_in_web_ui=False,
        help=f"Address the Prometheus exporter listens on. Default {DEFAULT_HOST}.",
    )
    parser.add_argument(
        "--exporter-port",
        type=int,
        default=DEFAULT_PORT,
        env_var="LOCUST_EXPORTER_PORT",
        include_in_web_ui=False,
        help=f"Port of the Prometheus exporter; 0 turns it off. Default {DEFAULT_PORT}.",
    )


def serves_here(runner: Any) -> bool:
    """Only the process that holds the whole test's statistics serves them."""
    from locust.runners import LocalRunner, MasterRunner

    return isinstance(runner, LocalRunner | MasterRunner)


def start(environment: Any, **_kwargs: Any) -> None:
    """``events.init`` listener: serve ``/metrics`` from this runner, if this process should."""
    options = environment.parsed_options
    if options is None or not options.exporter_port:
        # Locust used as a library (no command line), or the exporter turned off.
        return
    if not serves_here(environment.runner):
        return  # a worker: the master serves the merged statistics
    host, port = options.exporter_host, options.exporter_port
    from gevent.pywsgi import WSGIServer  # Locust's own server library, loaded in Locust only

    registry = CollectorRegistry(auto_describe=False)
    registry.register(LocustCollector(environment.runner))
    # The load generator's own CPU: a saturated Locust measures itself, not the server.
    ProcessCollector(registry=registry)
    server = WSGIServer((host, port), make_wsgi_app(registry), log=None, error_log=logger)
    try:
        server.start()
    except OSError as exc:
        # A busy port must not stop the load test; the exporter is an observer.
        logger.warning("Prometheus exporter not started on %s:%s: %s", host, port, exc)
        return
    logger.info("Prometheus exporter serving on http://%s:%s/metrics", host, port)

    def stop(**_kwargs: Any) -> None:
        server.stop(timeout=1)

    environment.events.quit.add_listener(stop)


def register(events: Any) -> None:
    """Hook into Locust's events (once per process: the module is imported under one name)."""
    events.init_command_line_parser.add_listener(add_arguments)
    events.init.add_listener(start)


def _register_if_in_locust() -> None:
    # Locust has imported itself before it imports a locustfile; anywhere else it is absent and
    # this module must stay inert (importing locust would monkey-patch the whole process).
    if "locust" in sys.modules:
        from locust import events

        register(events)


_register_if_in_locust()
