"""Prometheus recording and alert rules (their ``promtool test rules`` tests: ``rule_tests``).

Written to ``dashboards/prometheus/rules/django-async-lab.yml`` by ``python -m dashboards.build``.
The expressions are built from the metric names in ``mysite.metrics.names``, with the helpers
the panels use, over a fixed one-minute window: a rule has no ``$__rate_interval``.

Recording rules (names follow Prometheus's ``level:metric:operations`` convention):

- per job and route: request rate, 5xx ratio, p50/p95/p99 latency (label ``quantile``);
- per job and upstream address: call rate, error ratio, p50/p95/p99 latency;
- per job: event-loop lag p50/p95/p99;
- per job and database pool (one per database path): query rate, error ratio, p50/p95/p99
  query duration and wait for a connection, and the share of the pool's connections in use.

Alerts: a route's 5xx ratio, a route's p99 latency, a worker's event-loop lag and the upstream
calls' error ratio, each over its threshold for a while.
"""

from __future__ import annotations

from typing import Any

from mysite.metrics import names as n

from .promql import (
    INSTANCE,
    JOB_LABEL,
    QUANTILES,
    eq,
    ne,
    quantile,
    rate,
    ratio_or_zero,
    regex,
    series,
    sum_by,
)

WINDOW = "1m"
RULES_FILE = "django-async-lab.yml"
QUANTILE = "quantile"  # the label that tells a recorded percentile's level

# Alert thresholds.
ERROR_RATIO_THRESHOLD = 0.05  # of a route's responses, or of the upstream calls
LATENCY_P99_THRESHOLD = 5.0  # seconds: five times the lab's default delay
LOOP_LAG_THRESHOLD = 0.1  # seconds: a stall every request on that worker waits out
ALERT_FOR = "1m"
LOOP_LAG_FOR = "30s"


def _record(level: tuple[str, ...], metric: str, operation: str) -> str:
    return f"{'_'.join(level)}:{metric}:{operation}"


def _errors_metric(duration_metric: str) -> str:
    """``http_server_request_duration_seconds`` -> ``http_server_request_errors``."""
    return duration_metric.removesuffix("_duration_seconds") + "_errors"


ROUTE_LEVEL = (JOB_LABEL, n.ROUTE)
UPSTREAM_LEVEL = (JOB_LABEL, n.SERVER_ADDRESS)
OPERATION_RATE = f"rate{WINDOW}"
OPERATION_RATIO = f"ratio_rate{WINDOW}"
OPERATION_QUANTILE = f"quantile_rate{WINDOW}"

REQUEST_RATE = _record(ROUTE_LEVEL, n.SERVER_DURATION + "_count", OPERATION_RATE)
REQUEST_ERROR_RATIO = _record(ROUTE_LEVEL, _errors_metric(n.SERVER_DURATION), OPERATION_RATIO)
REQUEST_LATENCY = _record(ROUTE_LEVEL, n.SERVER_DURATION, OPERATION_QUANTILE)
UPSTREAM_RATE = _record(UPSTREAM_LEVEL, n.CLIENT_DURATION + "_count", OPERATION_RATE)
UPSTREAM_ERROR_RATIO = _record(UPSTREAM_LEVEL, _errors_metric(n.CLIENT_DURATION), OPERATION_RATIO)
UPSTREAM_LATENCY = _record(UPSTREAM_LEVEL, n.CLIENT_DURATION, OPERATION_QUANTILE)
LOOP_LAG = _record((JOB_LABEL,), n.LOOP_LAG, OPERATION_QUANTILE)
DB_LEVEL = (JOB_LABEL, n.DB_POOL)
DB_RATE = _record(DB_LEVEL, n.DB_OPERATION_DURATION + "_count", OPERATION_RATE)
DB_ERROR_RATIO = _record(DB_LEVEL, _errors_metric(n.DB_OPERATION_DURATION), OPERATION_RATIO)
DB_LATENCY = _record(DB_LEVEL, n.DB_OPERATION_DURATION, OPERATION_QUANTILE)
DB_WAIT = _record(DB_LEVEL, n.DB_CONNECTION_WAIT, OPERATION_QUANTILE)
DB_USED_RATIO = _record(DB_LEVEL, n.DB_CONNECTION_COUNT + "_" + n.DB_STATE_USED, "ratio")

RECORDED = (
    REQUEST_RATE,
    REQUEST_ERROR_RATIO,
    REQUEST_LATENCY,
    UPSTREAM_RATE,
    UPSTREAM_ERROR_RATIO,
    UPSTREAM_LATENCY,
    LOOP_LAG,
    DB_RATE,
    DB_ERROR_RATIO,
    DB_LATENCY,
    DB_WAIT,
    DB_USED_RATIO,
)


def _quantile_rules(record: str, buckets: str, by: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {
            "record": record,
            "expr": quantile(q, buckets, by, WINDOW),
            "labels": {QUANTILE: f"{q:g}"},
        }
        for q in QUANTILES
    ]


def recording_rules() -> list[dict[str, Any]]:
    server_count = n.SERVER_DURATION + "_count"
    client_count = n.CLIENT_DURATION + "_count"
    server_errors = sum_by(ROUTE_LEVEL, rate(series(server_count, regex(n.STATUS, "5..")), WINDOW))
    client_errors = sum_by(UPSTREAM_LEVEL, rate(series(client_count, ne(n.ERROR_TYPE, "")), WINDOW))
    return [
        {"record": REQUEST_RATE, "expr": sum_by(ROUTE_LEVEL, rate(server_count, WINDOW))},
        {"record": REQUEST_ERROR_RATIO, "expr": ratio_or_zero(server_errors, REQUEST_RATE)},
        *_quantile_rules(REQUEST_LATENCY, n.SERVER_DURATION + "_bucket", ROUTE_LEVEL),
        {"record": UPSTREAM_RATE, "expr": sum_by(UPSTREAM_LEVEL, rate(client_count, WINDOW))},
        {"record": UPSTREAM_ERROR_RATIO, "expr": ratio_or_zero(client_errors, UPSTREAM_RATE)},
        *_quantile_rules(UPSTREAM_LATENCY, n.CLIENT_DURATION + "_bucket", UPSTREAM_LEVEL),
        *_quantile_rules(LOOP_LAG, n.LOOP_LAG + "_bucket", (JOB_LABEL,)),
        *database_rules(),
    ]


def database_rules() -> list[dict[str, Any]]:
    count = n.DB_OPERATION_DURATION + "_count"
    errors = sum_by(DB_LEVEL, rate(series(count, ne(n.ERROR_TYPE, "")), WINDOW))
    used = sum_by(
        DB_LEVEL, series(n.DB_CONNECTION_COUNT, eq(n.DB_CONNECTION_STATE, n.DB_STATE_USED))
    )
    return [
        {"record": DB_RATE, "expr": sum_by(DB_LEVEL, rate(count, WINDOW))},
        {"record": DB_ERROR_RATIO, "expr": ratio_or_zero(errors, DB_RATE)},
        *_quantile_rules(DB_LATENCY, n.DB_OPERATION_DURATION + "_bucket", DB_LEVEL),
        *_quantile_rules(DB_WAIT, n.DB_CONNECTION_WAIT + "_bucket", DB_LEVEL),
        {
            "record": DB_USED_RATIO,
            "expr": ratio_or_zero(used, sum_by(DB_LEVEL, n.DB_CONNECTION_COUNT)),
        },
    ]


def _label(name: str) -> str:
    return f"{{{{ $labels.{name} }}}}"


def alert_rules() -> list[dict[str, Any]]:
    p99 = f"{QUANTILES[-1]:g}"
    route, job = _label(n.ROUTE), _label(JOB_LABEL)
    return [
        {
            "alert": "HighErrorRatio",
            "expr": f"{REQUEST_ERROR_RATIO} > {ERROR_RATIO_THRESHOLD:g}",
            "for": ALERT_FOR,
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": f"{route} on {job}: "
                "{{ $value | humanizePercentage }} of responses are server errors",
                "description": "More than "
                f"{ERROR_RATIO_THRESHOLD:.0%} of the route's responses have a 5xx status "
                f"for {ALERT_FOR}. A 502/504 from a fan-out view means the upstream failed.",
            },
        },
        {
            "alert": "HighLatencyP99",
            "expr": f"{series(REQUEST_LATENCY, eq(QUANTILE, p99))} > {LATENCY_P99_THRESHOLD:g}",
            "for": ALERT_FOR,
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": f"{route} on {job}: p99 latency {{{{ $value | humanizeDuration }}}}",
                "description": f"The route's p99 latency is above {LATENCY_P99_THRESHOLD:g} s "
                f"for {ALERT_FOR}.",
            },
        },
        {
            "alert": "EventLoopLag",
            "expr": f"max by ({JOB_LABEL}, {INSTANCE}, {n.PID}) "
            f"(max_over_time({n.LOOP_LAG_MAX}[{WINDOW}])) > {LOOP_LAG_THRESHOLD:g}",
            "for": LOOP_LAG_FOR,
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": f"Worker {_label(n.PID)} of {job} stalled its event loop for "
                "{{ $value | humanizeDuration }}",
                "description": "A worker's event loop ran a timer more than "
                f"{LOOP_LAG_THRESHOLD * 1000:g} ms late within the last {WINDOW}, for "
                f"{LOOP_LAG_FOR}: something blocks it (a blocking call in an async view, "
                "such as /async/blocking/), and every request on that worker waits.",
            },
        },
        {
            "alert": "UpstreamErrors",
            "expr": f"{UPSTREAM_ERROR_RATIO} > {ERROR_RATIO_THRESHOLD:g}",
            "for": ALERT_FOR,
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": f"{job} to {_label(n.SERVER_ADDRESS)}: "
                "{{ $value | humanizePercentage }} of upstream calls failed",
                "description": f"More than {ERROR_RATIO_THRESHOLD:.0%} of the upstream calls "
                f"failed (error status, timeout, refused or reset connection) for {ALERT_FOR}.",
            },
        },
    ]


def rules_document() -> dict[str, Any]:
    return {
        "groups": [
            {"name": "django-async-lab-recording", "rules": recording_rules()},
            {"name": "django-async-lab-alerts", "rules": alert_rules()},
        ]
    }
