"""PromQL building blocks: selectors, rates, ratios and percentiles, written once.

The panels and the recording rules are written with these, so an expression's shape (how a
label value is escaped, how a percentile sums its buckets) is decided in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mysite.metrics import names as n

RATE = "$__rate_interval"
# Labels Prometheus itself gives: the scrape job and target, and a histogram bucket's bound.
JOB_LABEL, INSTANCE, LE = "job", "instance", "le"
QUANTILES = (0.5, 0.95, 0.99)


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


def app_series(metric: str, *matchers: str, route: bool = False) -> str:
    route_matchers = (regex(n.ROUTE, f"${ROUTE}"),) if route else ()
    return series(metric, eq(JOB_LABEL, f"${JOB}"), *route_matchers, *matchers)


def locust_series(metric: str, *matchers: str) -> str:
    return series(metric, eq(JOB_LABEL, f"${LOCUST_JOB}"), *matchers)


def server_series(suffix: str, *matchers: str) -> str:
    return app_series(n.SERVER_DURATION + suffix, *matchers, route=True)


def quantile_queries(buckets: str, by: tuple[str, ...], legend_prefix: str) -> tuple[Query, ...]:
    return tuple(
        Query(quantile(q, buckets, by), f"{legend_prefix}{percent(q)}".strip(), chr(ord("A") + i))
        for i, q in enumerate(QUANTILES)
    )


def legend(*labels: str) -> str:
    return " ".join(f"{{{{{label}}}}}" for label in labels)
