"""``promtool test rules`` unit tests of the rules in ``rules``: input series, expected answers.

Written to ``dashboards/prometheus/tests/django-async-lab.test.yml`` by ``dashboards.build``.
"""

from __future__ import annotations

from typing import Any

from mysite.metrics import names as n

from .db_rule_tests import database_test
from .promql import INSTANCE, JOB_LABEL, LE, eq, series
from .rules import (
    QUANTILE,
    REQUEST_ERROR_RATIO,
    REQUEST_LATENCY,
    REQUEST_RATE,
    RULES_FILE,
    UPSTREAM_ERROR_RATIO,
    UPSTREAM_RATE,
    alert_rules,
)

TESTS_FILE = "django-async-lab.test.yml"

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
        "tests": [
            _requests_test(),
            _slow_route_test(),
            _loop_lag_test(),
            _upstream_test(),
            database_test(_INTERVAL, _series, _counter, _histogram, _level, _sample),
        ],
    }
