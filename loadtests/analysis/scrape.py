"""Histograms out of two ``/metrics`` scrapes: the server-side view of a measured window.

A window's server-side latency is the difference of the app's cumulative histogram between the
scrape at its start and the scrape at its end, for one route, summed over methods and statuses;
its percentiles are interpolated linearly inside buckets, as Prometheus' ``histogram_quantile``
does. Metric and label names come from ``mysite.metrics.names``, the one place they are spelled.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from loadtests.model.latency import QUANTILES, LatencyMs
from mysite.metrics import names

# METRICS_BUCKETS' bounds as multiples of a service time: fine just above it, coarse further out.
BELOW_AND_JUST_ABOVE = (0.95, 1.0, 1.0025, 1.005, 1.01, 1.015, 1.02, 1.03, 1.05, 1.075, 1.1)
FURTHER_OUT = (1.15, 1.2, 1.3, 1.5, 1.75, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 20, 30, 50, 100)


@dataclass
class Histogram:
    """Cumulative bucket counts by upper bound (``math.inf`` last), with their sum."""

    buckets: dict[float, float] = field(default_factory=dict)
    total: float = 0.0
    count_by_status: dict[str, float] = field(default_factory=dict)

    @property
    def count(self) -> float:
        return self.buckets.get(math.inf, 0.0)

    def _combine(self, other: Histogram, sign: float) -> Histogram:
        def merged(a: dict, b: dict) -> dict:
            return {k: a.get(k, 0.0) + sign * b.get(k, 0.0) for k in {**a, **b}}

        return Histogram(
            merged(self.buckets, other.buckets),
            self.total + sign * other.total,
            merged(self.count_by_status, other.count_by_status),
        )

    def __sub__(self, earlier: Histogram) -> Histogram:
        return self._combine(earlier, -1.0)

    def __add__(self, other: Histogram) -> Histogram:
        return self._combine(other, 1.0)

    def _holding(self, q: float) -> tuple[float, float, float, float] | None:
        """(lower bound, count below it, upper bound, count up to it) of the bucket holding
        quantile ``q``; None when the histogram is empty."""
        total = self.count
        if total <= 0:
            return None
        lower = below = 0.0
        for upper in sorted(self.buckets):
            if self.buckets[upper] >= q * total:
                return lower, below, upper, self.buckets[upper]
            lower, below = upper, self.buckets[upper]
        return lower, below, math.inf, total

    def quantile(self, q: float) -> float | None:
        """``histogram_quantile(q, ...)`` in seconds; None when the histogram is empty."""
        found = self._holding(q)
        if found is None:
            return None
        lower, below, upper, cumulative = found
        if math.isinf(upper):
            return lower  # beyond the last finite bound: the best that is known
        if cumulative == below:
            return upper
        return lower + (upper - lower) * (q * self.count - below) / (cumulative - below)

    def bucket(self, q: float) -> tuple[float, float] | None:
        """The bounds (seconds) of the bucket that holds quantile ``q``; None when empty."""
        found = self._holding(q)
        return None if found is None else (found[0], found[2])

    def latency_ms(self) -> LatencyMs | None:
        """Percentiles (ms), each rounded to what its bucket allows, with the bucket's bounds."""
        if self.count <= 0:
            return None
        figures = {"mean": round(1000.0 * self.total / self.count, 2)}
        for key, q in QUANTILES.items():
            low, high = (bound * 1000.0 for bound in self.bucket(q))
            figures[key] = round(round_to_bucket(round(self.quantile(q) * 1000.0, 2), low, high), 3)
            figures[f"{key}_bucket"] = (
                round(low, 3),
                round(high, 3) if math.isfinite(high) else None,
            )
        return LatencyMs(**figures)


def round_to_bucket(value: float, lower: float, upper: float) -> float:
    """``value`` rounded to the precision a bucket from ``lower`` to ``upper`` allows.

    Interpolation inside a bucket assumes its requests are spread evenly, which nothing
    measures, so the value keeps the decimal digits of the bucket's width and no more (a value
    in a 100 ms wide bucket is a multiple of 100 ms), clamped to the bucket.
    """
    width = upper - lower
    if not math.isfinite(width) or width <= 0:
        return value
    step = 10.0 ** math.floor(math.log10(width))
    rounded = round(round(value / step) * step, 9)
    return min(max(rounded, lower), upper)


Families = dict[str, list[Sample]]  # by family name


def parse(text: str) -> Families:
    """An exposition's samples, as prometheus_client parses them."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def histogram(families: Families, metric: str, match: Mapping[str, str] | None = None) -> Histogram:
    """One histogram summed over every series of ``metric`` whose labels include ``match``."""
    buckets: dict[float, float] = defaultdict(float)
    count_by_status: dict[str, float] = defaultdict(float)
    total = 0.0
    for name, labels, value, *_ in families.get(metric, ()):
        if match and any(labels.get(k) != v for k, v in match.items()):
            continue
        if name == metric + "_bucket":
            buckets[float(labels["le"])] += value
        elif name == metric + "_sum":
            total += value
        elif name == metric + "_count":
            status = labels.get(names.STATUS) or labels.get(names.ERROR_TYPE) or ""
            count_by_status[status] += value
    return Histogram(dict(buckets), total, dict(count_by_status))


def route_histogram(families: Families, route: str) -> Histogram:
    return histogram(families, names.SERVER_DURATION, {names.ROUTE: route})


def upstream_histogram(families: Families) -> Histogram:
    return histogram(families, names.CLIENT_DURATION)


def buckets_for(*service_times: float) -> list[float]:
    """Histogram boundaries that resolve latencies around each of ``service_times``.

    For METRICS_BUCKETS: fine steps just above a service time, where a request that waits only
    for its own ``delay`` lands; coarser ones further out, where queued requests land; a few
    below for the hello-world paths' own overheads. A fan-out passes both the request's
    service time and the upstream call's ``delay``, which the client histogram records.
    """
    small = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]
    factors = [*BELOW_AND_JUST_ABOVE, *FURTHER_OUT]
    values = {round(b, 6) for b in small if b < 0.9 * min(service_times)}
    for service_time in service_times:
        values |= {round(service_time * f, 6) for f in factors if service_time * f <= 300}
    return sorted(v for v in values if v > 0)
