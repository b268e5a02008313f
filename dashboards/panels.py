"""Every panel's PromQL, defined once: the Grafana dashboards and the report both render these.

One small function per panel returns a ``Panel``: its title, unit and queries. The queries use
Grafana's variables, which ``query.substitute`` fills in when the report evaluates them
through Prometheus's HTTP API:

- ``$job``: the Prometheus job that scrapes the app;
- ``$locust_job``: the job that scrapes the Locust exporter;
- ``$route``: a regular expression over ``http_route`` (all routes: ``.*``);
- ``$__rate_interval``: Grafana's rate window (at least four scrape intervals).

Metric and label names come from ``mysite.metrics.names`` and ``dashboards.locust_exporter``;
none is spelled here.
"""

from __future__ import annotations

from collections.abc import Callable

from mysite.metrics import names as n

from . import locust_exporter as lx
from .db_panels import DB_PANELS
from .panel import Panel
from .promql import (
    INSTANCE,
    LE,
    QUANTILES,
    RATE,
    Query,
    app_series,
    legend,
    locust_series,
    ne,
    percent,
    quantile,
    quantile_queries,
    rate,
    ratio_or_zero,
    regex,
    server_series,
    sum_by,
)

# --- the app: requests (RED) -----------------------------------------------------------------


def request_rate() -> Panel:
    return Panel(
        "request_rate",
        "Requests per second, by route",
        "Requests the app served, every status included, from its server-side histogram.",
        "reqps",
        (Query(sum_by((n.ROUTE,), rate(server_series("_count"))), legend(n.ROUTE)),),
    )


def error_ratio() -> Panel:
    by = (n.ROUTE,)
    errors = sum_by(by, rate(server_series("_count", regex(n.STATUS, "5.."))))
    total = sum_by(by, rate(server_series("_count")))
    return Panel(
        "error_ratio",
        "Server errors (5xx) ratio, by route",
        "Share of a route's responses with a 5xx status (502/504: the upstream failed).",
        "percentunit",
        (Query(ratio_or_zero(errors, total), legend(n.ROUTE)),),
    )


def latency_p99() -> Panel:
    q = QUANTILES[-1]
    return Panel(
        "latency_p99",
        f"Latency {percent(q)}, by route",
        "Server-side request duration, from the first middleware to the response.",
        "s",
        (Query(quantile(q, server_series("_bucket"), (n.ROUTE,)), legend(n.ROUTE)),),
    )


def route_latency() -> Panel:
    return Panel(
        "route_latency",
        "Latency percentiles",
        "Server-side request duration percentiles of each route (p50, p95, p99).",
        "s",
        quantile_queries(server_series("_bucket"), (n.ROUTE,), legend(n.ROUTE) + " "),
    )


def route_status_rate() -> Panel:
    by = (n.ROUTE, n.STATUS)
    return Panel(
        "route_status_rate",
        "Responses per second, by status",
        "What each route answered: 2xx, 4xx (client errors), 5xx (upstream failures).",
        "reqps",
        (Query(sum_by(by, rate(server_series("_count"))), legend(*by)),),
    )


def route_heatmap() -> Panel:
    return Panel(
        "route_heatmap",
        "Latency distribution",
        "Requests per histogram bucket and interval: where the latency mass lies.",
        "s",
        (
            Query(
                sum_by((LE,), f"increase({server_series('_bucket')}[{RATE}])"),
                legend(LE),
                "A",
                "heatmap",
            ),
        ),
        kind="heatmap",
    )


def active_requests() -> Panel:
    return Panel(
        "active_requests",
        "Requests in flight",
        "Requests inside the app now, summed over its worker processes.",
        "short",
        (Query(sum_by((n.METHOD,), app_series(n.SERVER_ACTIVE)), legend(n.METHOD)),),
    )


# --- the app: upstream calls -------------------------------------------------------------------


def upstream_rate() -> Panel:
    by = (n.SERVER_ADDRESS, n.STATUS, n.ERROR_TYPE)
    return Panel(
        "upstream_rate",
        "Upstream calls per second, by outcome",
        "Calls the fan-out views made, by the status the upstream answered or the error "
        "that replaced an answer (timeout, connect_error, connection_lost...).",
        "reqps",
        (
            Query(
                sum_by(by, rate(app_series(n.CLIENT_DURATION + "_count"))),
                f"{legend(n.SERVER_ADDRESS)} status={legend(n.STATUS)} "
                f"error={legend(n.ERROR_TYPE)}",
            ),
        ),
    )


def upstream_error_ratio() -> Panel:
    by = (n.SERVER_ADDRESS,)
    errors = sum_by(by, rate(app_series(n.CLIENT_DURATION + "_count", ne(n.ERROR_TYPE, ""))))
    total = sum_by(by, rate(app_series(n.CLIENT_DURATION + "_count")))
    return Panel(
        "upstream_error_ratio",
        "Upstream call errors ratio",
        "Share of upstream calls that failed: an error status, a timeout, a refused or reset "
        "connection, a body that is not JSON.",
        "percentunit",
        (Query(ratio_or_zero(errors, total), legend(n.SERVER_ADDRESS)),),
    )


def upstream_latency() -> Panel:
    return Panel(
        "upstream_latency",
        "Upstream call latency percentiles",
        "Duration of each upstream call as the app's client saw it.",
        "s",
        quantile_queries(
            app_series(n.CLIENT_DURATION + "_bucket"),
            (n.SERVER_ADDRESS,),
            legend(n.SERVER_ADDRESS) + " ",
        ),
    )


# --- the app: event loop -----------------------------------------------------------------------


def loop_lag_max() -> Panel:
    return Panel(
        "loop_lag_max",
        "Event-loop lag, worst per worker",
        "The worst lag of the last second in each worker process: a blocking call in an "
        "async view (/async/blocking/) stalls its worker's loop for the call's whole duration.",
        "s",
        (
            Query(
                f"max by ({INSTANCE}, {n.PID}) ({app_series(n.LOOP_LAG_MAX)})",
                f"pid {legend(n.PID)}",
            ),
        ),
    )


def loop_lag_quantiles() -> Panel:
    return Panel(
        "loop_lag_quantiles",
        "Event-loop lag percentiles",
        "How late the workers' event loops ran their timers, all workers together.",
        "s",
        quantile_queries(app_series(n.LOOP_LAG + "_bucket"), (), ""),
    )


# --- Locust, the client side ------------------------------------------------------------------


def locust_request_rate() -> Panel:
    return Panel(
        "locust_request_rate",
        "Locust: requests per second, by name",
        "Requests Locust made, failures included.",
        "reqps",
        (Query(sum_by((lx.NAME,), rate(locust_series(lx.REQUESTS))), legend(lx.NAME)),),
    )


def locust_failure_ratio() -> Panel:
    by = (lx.NAME,)
    failures = sum_by(by, rate(locust_series(lx.FAILURES)))
    total = sum_by(by, rate(locust_series(lx.REQUESTS)))
    return Panel(
        "locust_failure_ratio",
        "Locust: failure ratio, by name",
        "Share of requests Locust counted as failed: any status from 400 up, or a body check.",
        "percentunit",
        (Query(ratio_or_zero(failures, total), legend(lx.NAME)),),
    )


def locust_latency() -> Panel:
    return Panel(
        "locust_latency",
        "Locust: response time percentiles, by name",
        "Response times as Locust measured them: the server's time plus the network and "
        "Locust's own scheduling.",
        "s",
        quantile_queries(
            locust_series(lx.RESPONSE_TIME + "_bucket"), (lx.NAME,), legend(lx.NAME) + " "
        ),
    )


def locust_users() -> Panel:
    return Panel(
        "locust_users",
        "Locust: users",
        "Simulated users running now, all workers together.",
        "short",
        (Query(sum_by((), locust_series(lx.USERS)), "users"),),
    )


def locust_cpu() -> Panel:
    return Panel(
        "locust_cpu",
        "Locust: CPU of the process that serves the exporter",
        "One core is 1.0. A load generator near a full core measures itself, not the server.",
        "percentunit",
        (Query(sum_by((), rate(locust_series(lx.PROCESS_CPU))), "locust"),),
    )


# --- side by side ------------------------------------------------------------------------------

# The client's line of both panels below (the side the load test's own tables count), and the
# latency panel's percentile.
CLIENT_LEGEND = "Locust (client)"
COMPARED_QUANTILE = QUANTILES[-1]


def throughput_compare() -> Panel:
    return Panel(
        "throughput_compare",
        "Throughput: Locust vs. server",
        "Requests per second as Locust sent them and as the app counted them; they agree when "
        "Locust only calls routes of this job.",
        "reqps",
        (
            Query(sum_by((), rate(locust_series(lx.REQUESTS))), CLIENT_LEGEND, "A"),
            Query(sum_by((), rate(server_series("_count"))), "server", "B"),
        ),
    )


def latency_compare() -> Panel:
    q = COMPARED_QUANTILE
    return Panel(
        "latency_compare",
        f"Latency {percent(q)}: Locust vs. server",
        "The gap between the two is time spent outside the app: network, queues, Locust.",
        "s",
        (
            Query(quantile(q, locust_series(lx.RESPONSE_TIME + "_bucket")), CLIENT_LEGEND, "A"),
            Query(quantile(q, server_series("_bucket")), "server", "B"),
        ),
    )


PANELS: tuple[Callable[[], Panel], ...] = (
    request_rate,
    error_ratio,
    latency_p99,
    active_requests,
    route_status_rate,
    route_latency,
    route_heatmap,
    upstream_rate,
    upstream_error_ratio,
    upstream_latency,
    loop_lag_max,
    loop_lag_quantiles,
    locust_users,
    locust_request_rate,
    locust_failure_ratio,
    locust_latency,
    locust_cpu,
    throughput_compare,
    latency_compare,
    *DB_PANELS,
)


def all_panels() -> dict[str, Panel]:
    """Every panel by its key, in a stable order."""
    panels = {}
    for make in PANELS:
        panel = make()
        if panel.key in panels:
            raise ValueError(f"two panels share the key {panel.key!r}")
        panels[panel.key] = panel
    return panels
