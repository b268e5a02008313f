"""Prometheus recording and alert rules, and their ``promtool test rules`` unit tests.

Written to ``dashboards/prometheus/rules/django-async-lab.yml`` and
``dashboards/prometheus/tests/django-async-lab.test.yml`` by ``python -m dashboards.build``.
The expressions are built from the metric names in ``mysite.metrics.names``, with the helpers
the panels use, over a fixed one-minute window: a rule has no ``$__rate_interval``.

Recording rules (names follow Prometheus's ``level:metric:operations`` convention):

- per job and route: request rate, 5xx ratio, p50/p95/p99 latency (label ``quantile``);
- per job and upstream address: call rate, error ratio, p50/p95/p99 latency;
- per job: event-loop lag p50/p95/p99.

Alerts: a route's 5xx ratio, a route's p99 latency, a worker's event-loop lag and the upstream
calls' error ratio, each over its threshold for a while.
"""

from __future__ import annotations

from typing import Any

from mysite.metrics import names as n

from .panels import (
    INSTANCE,
    JOB_LABEL,
    LE,
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
TESTS_FILE = "django-async-lab.test.yml"
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

RECORDED = (
    REQUEST_RATE,
    REQUEST_ERROR_RATIO,
    REQUEST_LATENCY,
    UPSTREAM_RATE,
    UPSTREAM_ERROR_RATIO,
    UPSTREAM_LATENCY,
    LOOP_LAG,
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


# --- promtool unit tests -----------------------------------------------------------------------

_INTERVAL = 15  # seconds between input samples
_JOB, _INSTANCE = "django", "127.0.0.1:8000"
_SYNC, _ASYNC = "/sync/api/", "/async/api/"
_UPSTREAM = "127.0.0.1"


def _series(metric: str, labels: dict[str, str]) -> str:
    base = {JOB_LABEL: _JOB, INSTANCE: _INSTANCE, **labels}
    return series(metric, *(eq(key, value) for key, value in base.items()))


def _counter(metric: str, labels: dict[str, str], per_second: float, samples: int = 40) -> dict:
    """A counter growing by ``per_second``, sampled every ``_INTERVAL`` seconds."""
    return {
        "series": _series(metric, labels),
        "values": f"0+{per_second * _INTERVAL:g}x{samples}",
    }


def _request_counts(route: str, status: str, per_second: float) -> dict:
    labels = {n.ROUTE: route, n.METHOD: "GET", n.STATUS: status}
    return _counter(n.SERVER_DURATION + "_count", labels, per_second)


def _histogram(metric: str, labels: dict[str, str], per_second_le: dict[str, float]) -> list[dict]:
    """Bucket counters of a histogram whose cumulative bucket rates are ``per_second_le``."""
    return [
        _counter(metric + "_bucket", {**labels, LE: le}, per_second)
        for le, per_second in per_second_le.items()
    ]


def _level(*pairs: tuple[str, str]) -> dict[str, str]:
    return {JOB_LABEL: _JOB, **dict(pairs)}


def _sample(labels: dict[str, str], value: float, name: str) -> dict:
    return {"labels": series(name, *(eq(k, v) for k, v in labels.items())), "value": value}


def _requests_test() -> dict:
    # /sync/api/: 3 requests/s answered 200, 1/s answered 502; /async/api/: 2/s, all 200.
    # Latency of /sync/api/ 200s: a quarter within 0.5 s, three quarters within 1 s, all
    # within 2 s (cumulative bucket rates 0.75, 2.25, 3, 3 per second).
    sync_labels = {n.ROUTE: _SYNC, n.METHOD: "GET", n.STATUS: "200"}
    buckets = {"0.5": 0.75, "1": 2.25, "2": 3.0, "+Inf": 3.0}
    at = "5m"
    sync, asyncr = (n.ROUTE, _SYNC), (n.ROUTE, _ASYNC)
    return {
        "interval": f"{_INTERVAL}s",
        "input_series": [
            _request_counts(_SYNC, "200", 3),
            _request_counts(_SYNC, "502", 1),
            _request_counts(_ASYNC, "200", 2),
            *_histogram(n.SERVER_DURATION, sync_labels, buckets),
        ],
        "promql_expr_test": [
            {
                "expr": REQUEST_RATE,
                "eval_time": at,
                "exp_samples": [
                    _sample(_level(sync), 4, REQUEST_RATE),
                    _sample(_level(asyncr), 2, REQUEST_RATE),
                ],
            },
            {
                "expr": REQUEST_ERROR_RATIO,
                "eval_time": at,
                "exp_samples": [
                    _sample(_level(sync), 0.25, REQUEST_ERROR_RATIO),
                    _sample(_level(asyncr), 0, REQUEST_ERROR_RATIO),
                ],
            },
            {
                # p50: rank 1.5 of 3, in (0.5, 1]: 0.5 + 0.5 * (1.5 - 0.75) / 1.5 = 0.75.
                "expr": series(REQUEST_LATENCY, eq(QUANTILE, "0.5")),
                "eval_time": at,
                "exp_samples": [
                    _sample(_level(sync, (QUANTILE, "0.5")), 0.75, REQUEST_LATENCY),
                ],
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": at,
                "alertname": "HighErrorRatio",
                "exp_alerts": [
                    {
                        "exp_labels": {**_level(sync), "severity": "warning"},
                        "exp_annotations": _annotations(
                            "HighErrorRatio",
                            summary=f"{_SYNC} on {_JOB}: 25% of responses are server errors",
                        ),
                    }
                ],
            },
            {"eval_time": at, "alertname": "HighLatencyP99", "exp_alerts": []},
            {"eval_time": "30s", "alertname": "HighErrorRatio", "exp_alerts": []},
        ],
    }


def _slow_route_test() -> dict:
    # Every request of /sync/api/ takes between 5 and 10 s: p99 = 5 + 5 * 0.99 = 9.95 s.
    labels = {n.ROUTE: _SYNC, n.METHOD: "GET", n.STATUS: "200"}
    buckets = {"5": 0.0, "10": 1.0, "+Inf": 1.0}
    return {
        "interval": f"{_INTERVAL}s",
        "input_series": [
            _request_counts(_SYNC, "200", 1),
            *_histogram(n.SERVER_DURATION, labels, buckets),
        ],
        "alert_rule_test": [
            {"eval_time": "1m", "alertname": "HighLatencyP99", "exp_alerts": []},
            {
                "eval_time": "3m",
                "alertname": "HighLatencyP99",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            **_level((n.ROUTE, _SYNC), (QUANTILE, "0.99")),
                            "severity": "warning",
                        },
                        "exp_annotations": _annotations(
                            "HighLatencyP99", summary=f"{_SYNC} on {_JOB}: p99 latency 9.95s"
                        ),
                    }
                ],
            },
        ],
    }


def _loop_lag_test() -> dict:
    # Worker 101 stalls for 0.5 s every second from the second minute; worker 102 never does.
    stalled = {"series": _series(n.LOOP_LAG_MAX, {n.PID: "101"}), "values": "0.001x4 0.5x20"}
    healthy = {"series": _series(n.LOOP_LAG_MAX, {n.PID: "102"}), "values": "0.001x24"}
    return {
        "interval": f"{_INTERVAL}s",
        "input_series": [stalled, healthy],
        "alert_rule_test": [
            {"eval_time": "1m15s", "alertname": "EventLoopLag", "exp_alerts": []},
            {
                "eval_time": "2m",
                "alertname": "EventLoopLag",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            JOB_LABEL: _JOB,
                            INSTANCE: _INSTANCE,
                            n.PID: "101",
                            "severity": "warning",
                        },
                        "exp_annotations": _annotations(
                            "EventLoopLag",
                            summary=f"Worker 101 of {_JOB} stalled its event loop for 500ms",
                        ),
                    }
                ],
            },
        ],
    }


def _upstream_test() -> dict:
    # Half the upstream calls answer 503 (error_type "503"), half 200.
    count = n.CLIENT_DURATION + "_count"
    ok = {n.SERVER_ADDRESS: _UPSTREAM, n.METHOD: "GET", n.STATUS: "200", n.ERROR_TYPE: ""}
    failed = {**ok, n.STATUS: "503", n.ERROR_TYPE: "503"}
    level = _level((n.SERVER_ADDRESS, _UPSTREAM))
    return {
        "interval": f"{_INTERVAL}s",
        "input_series": [_counter(count, ok, 2), _counter(count, failed, 2)],
        "promql_expr_test": [
            {
                "expr": UPSTREAM_RATE,
                "eval_time": "5m",
                "exp_samples": [_sample(level, 4, UPSTREAM_RATE)],
            },
            {
                "expr": UPSTREAM_ERROR_RATIO,
                "eval_time": "5m",
                "exp_samples": [_sample(level, 0.5, UPSTREAM_ERROR_RATIO)],
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "5m",
                "alertname": "UpstreamErrors",
                "exp_alerts": [
                    {
                        "exp_labels": {**level, "severity": "warning"},
                        "exp_annotations": _annotations(
                            "UpstreamErrors",
                            summary=f"{_JOB} to {_UPSTREAM}: 50% of upstream calls failed",
                        ),
                    }
                ],
            }
        ],
    }


def _annotations(alert: str, summary: str) -> dict[str, str]:
    """The alert's annotations with its summary as rendered; the description has no template."""
    rule = next(rule for rule in alert_rules() if rule["alert"] == alert)
    return {**rule["annotations"], "summary": summary}


def tests_document() -> dict[str, Any]:
    return {
        "rule_files": [f"../rules/{RULES_FILE}"],
        "evaluation_interval": f"{_INTERVAL}s",
        "tests": [_requests_test(), _slow_route_test(), _loop_lag_test(), _upstream_test()],
    }
