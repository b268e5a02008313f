"""Every panel's PromQL, defined once: the Grafana dashboards and the report both render these.

One small function per panel returns a ``Panel``: its title, unit and queries. The queries use
Grafana's variables, which ``query.substitute`` fills in when the report evaluates them
through Prometheus's HTTP API:

- ``$job``: the Prometheus job that scrapes the app;
- ``$locust_job``: the job that scrapes the Locust exporter;
- ``$route``: a regular expression over ``http_route`` (all routes: ``.*``);
- ``$__rate_interval``: Grafana's rate window (at least four scrape intervals).

Metric and label names come from ``mysite.metrics.names`` and ``loadtests.locust_exporter``;
none is spelled here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from loadtests import locust_exporter as lx
from mysite.metrics import names as n

RATE = "$__rate_interval"
# Labels Prometheus itself gives: the scrape job and target, and a histogram bucket's bound.
JOB_LABEL, INSTANCE, LE = "job", "instance", "le"
QUANTILES = (0.5, 0.95, 0.99)

# The variables the panels use, and the value that means "everything" for each.
JOB, LOCUST_JOB, ROUTE = "job", "locust_job", "route"
ALL_ROUTES = ".*"


@dataclass(frozen=True, slots=True)
class Query:
    expr: str
    legend: str
    ref_id: str = "A"
    # "time_series", or "heatmap" for a histogram's buckets drawn as a heatmap.
    format: Literal["time_series", "heatmap"] = "time_series"


@dataclass(frozen=True, slots=True)
class Panel:
    key: str
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    kind: Literal["timeseries", "heatmap"] = "timeseries"

    @property
    def variables(self) -> frozenset[str]:
        """The dashboard variables its queries use (Grafana's own ``$__`` ones excluded)."""
        found = set()
        for query in self.queries:
            found.update(re.findall(r"\$(?!__)(\w+)", query.expr))
        return frozenset(found)


# --- PromQL building blocks ----------------------------------------------------------------


def _matcher(label: str, op: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{label}{op}"{escaped}"'


def eq(label: str, value: str) -> str:
    return _matcher(label, "=", value)


def ne(label: str, value: str) -> str:
    return _matcher(label, "!=", value)


def regex(label: str, value: str) -> str:
    return _matcher(label, "=~", value)


def series(metric: str, *matchers: str) -> str:
    return f"{metric}{{{', '.join(matchers)}}}" if matchers else metric


def rate(selector: str, window: str = RATE) -> str:
    return f"rate({selector}[{window}])"


def sum_by(labels: tuple[str, ...], expr: str) -> str:
    return f"sum by ({', '.join(labels)}) ({expr})" if labels else f"sum({expr})"


def ratio_or_zero(part: str, whole: str) -> str:
    """``part / whole``; 0, not a missing series, where ``whole`` has traffic and ``part`` none."""
    return f"({part} or {whole} * 0) / {whole}"


def quantile(q: float, buckets_selector: str, by: tuple[str, ...] = (), window: str = RATE) -> str:
    return f"histogram_quantile({q:g}, {sum_by((*by, LE), rate(buckets_selector, window))})"


def percent(q: float) -> str:
    return f"p{round(q * 100):d}"


def _app(metric: str, *matchers: str, route: bool = False) -> str:
    route_matchers = (regex(n.ROUTE, f"${ROUTE}"),) if route else ()
    return series(metric, eq(JOB_LABEL, f"${JOB}"), *route_matchers, *matchers)


def _locust(metric: str, *matchers: str) -> str:
    return series(metric, eq(JOB_LABEL, f"${LOCUST_JOB}"), *matchers)


def _server(suffix: str, *matchers: str) -> str:
    return _app(n.SERVER_DURATION + suffix, *matchers, route=True)


def _quantile_queries(buckets: str, by: tuple[str, ...], legend_prefix: str) -> tuple[Query, ...]:
    return tuple(
        Query(quantile(q, buckets, by), f"{legend_prefix}{percent(q)}".strip(), chr(ord("A") + i))
        for i, q in enumerate(QUANTILES)
    )


def _legend(*labels: str) -> str:
    return " ".join(f"{{{{{label}}}}}" for label in labels)


# --- the app: requests (RED) -----------------------------------------------------------------


def request_rate() -> Panel:
    return Panel(
        "request_rate",
        "Requests per second, by route",
        "Requests the app served, every status included, from its server-side histogram.",
        "reqps",
        (Query(sum_by((n.ROUTE,), rate(_server("_count"))), _legend(n.ROUTE)),),
    )


def error_ratio() -> Panel:
    by = (n.ROUTE,)
    errors = sum_by(by, rate(_server("_count", regex(n.STATUS, "5.."))))
    total = sum_by(by, rate(_server("_count")))
    return Panel(
        "error_ratio",
        "Server errors (5xx) ratio, by route",
        "Share of a route's responses with a 5xx status (502/504: the upstream failed).",
        "percentunit",
        (Query(ratio_or_zero(errors, total), _legend(n.ROUTE)),),
    )


def latency_p99() -> Panel:
    q = QUANTILES[-1]
    return Panel(
        "latency_p99",
        f"Latency {percent(q)}, by route",
        "Server-side request duration, from the first middleware to the response.",
        "s",
        (Query(quantile(q, _server("_bucket"), (n.ROUTE,)), _legend(n.ROUTE)),),
    )


def route_latency() -> Panel:
    return Panel(
        "route_latency",
        "Latency percentiles",
        "Server-side request duration percentiles of each route (p50, p95, p99).",
        "s",
        _quantile_queries(_server("_bucket"), (n.ROUTE,), _legend(n.ROUTE) + " "),
    )


def route_status_rate() -> Panel:
    by = (n.ROUTE, n.STATUS)
    return Panel(
        "route_status_rate",
        "Responses per second, by status",
        "What each route answered: 2xx, 4xx (client errors), 5xx (upstream failures).",
        "reqps",
        (Query(sum_by(by, rate(_server("_count"))), _legend(*by)),),
    )


def route_heatmap() -> Panel:
    return Panel(
        "route_heatmap",
        "Latency distribution",
        "Requests per histogram bucket and interval: where the latency mass lies.",
        "s",
        (
            Query(
                sum_by((LE,), f"increase({_server('_bucket')}[{RATE}])"),
                _legend(LE),
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
        (Query(sum_by((n.METHOD,), _app(n.SERVER_ACTIVE)), _legend(n.METHOD)),),
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
                sum_by(by, rate(_app(n.CLIENT_DURATION + "_count"))),
                f"{_legend(n.SERVER_ADDRESS)} status={_legend(n.STATUS)} "
                f"error={_legend(n.ERROR_TYPE)}",
            ),
        ),
    )


def upstream_error_ratio() -> Panel:
    by = (n.SERVER_ADDRESS,)
    errors = sum_by(by, rate(_app(n.CLIENT_DURATION + "_count", ne(n.ERROR_TYPE, ""))))
    total = sum_by(by, rate(_app(n.CLIENT_DURATION + "_count")))
    return Panel(
        "upstream_error_ratio",
        "Upstream call errors ratio",
        "Share of upstream calls that failed: an error status, a timeout, a refused or reset "
        "connection, a body that is not JSON.",
        "percentunit",
        (Query(ratio_or_zero(errors, total), _legend(n.SERVER_ADDRESS)),),
    )


def upstream_latency() -> Panel:
    return Panel(
        "upstream_latency",
        "Upstream call latency percentiles",
        "Duration of each upstream call as the app's client saw it.",
        "s",
        _quantile_queries(
            _app(n.CLIENT_DURATION + "_bucket"),
            (n.SERVER_ADDRESS,),
            _legend(n.SERVER_ADDRESS) + " ",
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
        (Query(f"max by ({INSTANCE}, {n.PID}) ({_app(n.LOOP_LAG_MAX)})", f"pid {_legend(n.PID)}"),),
    )


def loop_lag_quantiles() -> Panel:
    return Panel(
        "loop_lag_quantiles",
        "Event-loop lag percentiles",
        "How late the workers' event loops ran their timers, all workers together.",
        "s",
        _quantile_queries(_app(n.LOOP_LAG + "_bucket"), (), ""),
    )


# --- Locust, the client side ------------------------------------------------------------------


def locust_request_rate() -> Panel:
    return Panel(
        "locust_request_rate",
        "Locust: requests per second, by name",
        "Requests Locust made, failures included.",
        "reqps",
        (Query(sum_by((lx.NAME,), rate(_locust(lx.REQUESTS))), _legend(lx.NAME)),),
    )


def locust_failure_ratio() -> Panel:
    by = (lx.NAME,)
    failures = sum_by(by, rate(_locust(lx.FAILURES)))
    total = sum_by(by, rate(_locust(lx.REQUESTS)))
    return Panel(
        "locust_failure_ratio",
        "Locust: failure ratio, by name",
        "Share of requests Locust counted as failed: any status from 400 up, or a body check.",
        "percentunit",
        (Query(ratio_or_zero(failures, total), _legend(lx.NAME)),),
    )


def locust_latency() -> Panel:
    return Panel(
        "locust_latency",
        "Locust: response time percentiles, by name",
        "Response times as Locust measured them: the server's time plus the network and "
        "Locust's own scheduling.",
        "s",
        _quantile_queries(
            _locust(lx.RESPONSE_TIME + "_bucket"), (lx.NAME,), _legend(lx.NAME) + " "
        ),
    )


def locust_users() -> Panel:
    return Panel(
        "locust_users",
        "Locust: users",
        "Simulated users running now, all workers together.",
        "short",
        (Query(sum_by((), _locust(lx.USERS)), "users"),),
    )


def locust_cpu() -> Panel:
    return Panel(
        "locust_cpu",
        "Locust: CPU of the process that serves the exporter",
        "One core is 1.0. A load generator near a full core measures itself, not the server.",
        "percentunit",
        (Query(sum_by((), rate(_locust(lx.PROCESS_CPU))), "locust"),),
    )


# --- side by side ------------------------------------------------------------------------------


def throughput_compare() -> Panel:
    return Panel(
        "throughput_compare",
        "Throughput: Locust vs. server",
        "Requests per second as Locust sent them and as the app counted them; they agree when "
        "Locust only calls routes of this job.",
        "reqps",
        (
            Query(sum_by((), rate(_locust(lx.REQUESTS))), "Locust (client)", "A"),
            Query(sum_by((), rate(_server("_count"))), "server", "B"),
        ),
    )


def latency_compare() -> Panel:
    q = QUANTILES[-1]
    return Panel(
        "latency_compare",
        f"Latency {percent(q)}: Locust vs. server",
        "The gap between the two is time spent outside the app: network, queues, Locust.",
        "s",
        (
            Query(quantile(q, _locust(lx.RESPONSE_TIME + "_bucket")), "Locust (client)", "A"),
            Query(quantile(q, _server("_bucket")), "server", "B"),
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
