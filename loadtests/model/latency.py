"""One latency type for every load: the response times of a set of requests, mergeable exactly.

``Latency`` counts requests per bucket of response time. Buckets are integer microseconds,
rounded to ``SIGNIFICANT_DIGITS`` significant digits but never wider than ``RESOLUTION_US``: the
finer of the two precisions the lab used before (the closed loop's 0.1 ms, the open model's HDR
histograms at 3 significant digits), so neither load loses any. Below 1 ms a bucket is 1 µs,
up to 10 ms 10 µs, beyond that 0.1 ms: a run's buckets stay in the thousands however many
requests it makes. Merging adds the counts of identical buckets, so the merge of every Locust
process's latencies is the latency of all their requests, exactly (not an average of
percentiles). Quantiles are nearest-rank on the buckets (no interpolation).

It serialises itself through msgspec (``counts`` is its whole state: JSON, or msgpack between
Locust processes), and ``summary`` gives the ``LatencyMs`` record results.json holds.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from collections.abc import Iterable
from statistics import NormalDist

from msgspec import field

from .record import Record

SIGNIFICANT_DIGITS = 3
RESOLUTION_US = 100  # 0.1 ms: no bucket is wider
QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}  # the reported ones
CONFIDENCE = 0.95


# Where a bucket's width grows tenfold (µs): 1 µs below the first, up to RESOLUTION_US.
_WIDER_AT = tuple(10**SIGNIFICANT_DIGITS * w for w in (1, 10, 100) if w < RESOLUTION_US)


def bucket_us(ms: float) -> int:
    """The bucket (µs) that holds a response time of ``ms`` milliseconds."""
    us = max(0, round(ms * 1000.0))
    width = 10 ** bisect.bisect_right(_WIDER_AT, us)
    return (us + width // 2) // width * width


def nearest_rank(q: float, count: int) -> int:
    """The 1-based rank of the ``q`` quantile of ``count`` values: ceil(q x n), no interpolation."""
    return max(1, math.ceil(q * count))


def quantile_ranks(
    count: int, quantile: float, confidence: float = CONFIDENCE
) -> tuple[int | None, int | None]:
    """1-based ranks of the sorted sample that bound ``quantile`` with ``confidence``, whatever
    the distribution (order statistics: the normal approximation to the binomial count of values
    below it); None where the sample is too small for that bound (a p99's upper one needs n of
    about 300)."""
    if count <= 0:
        return None, None
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    spread = z * math.sqrt(count * quantile * (1 - quantile))
    low = math.floor(count * quantile - spread)
    high = math.ceil(count * quantile + spread) + 1
    return (low if low >= 1 else None), (high if high <= count else None)


class LatencyMs(Record):
    """A latency's figures, in milliseconds (None: no data at that level)."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    mean: float | None = None
    max: float | None = None
    # Client side: 95% intervals of each percentile (loadtests.analysis.stats).
    p50_ci95: tuple[float, float] | None = None
    p95_ci95: tuple[float, float] | None = None
    p99_ci95: tuple[float, float] | None = None
    # Server side: the bounds of the histogram bucket each percentile fell in (the value is
    # rounded to what that bucket allows).
    p50_bucket: tuple[float, float | None] | None = None
    p95_bucket: tuple[float, float | None] | None = None
    p99_bucket: tuple[float, float | None] | None = None


class Latency(Record):
    """Requests counted by response-time bucket (µs -> requests)."""

    counts: dict[int, int] = field(default_factory=dict)

    @classmethod
    def of(cls, values_ms: Iterable[float]) -> Latency:
        return cls(counts=dict(Counter(map(bucket_us, values_ms))))

    @classmethod
    def merged(cls, parts: Iterable[Latency]) -> Latency:
        total = cls()
        for part in parts:
            total.merge(part)
        return total

    def record(self, ms: float, count: int = 1) -> None:
        key = bucket_us(ms)
        self.counts[key] = self.counts.get(key, 0) + count

    def merge(self, other: Latency) -> Latency:
        for key, count in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + count
        return self

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def _cumulative(self) -> tuple[list[int], list[int]]:
        keys = sorted(self.counts)
        return keys, list(itertools.accumulate(self.counts[k] for k in keys))

    def value_at_rank(self, rank: int) -> float | None:
        """The ``rank``-th smallest response time (1-based) in ms; None outside the sample."""
        keys, seen = self._cumulative()
        if not keys or not 1 <= rank <= seen[-1]:
            return None
        return keys[bisect.bisect_left(seen, rank)] / 1000.0

    def quantile(self, q: float) -> float | None:
        """Nearest-rank quantile in ms; None when empty."""
        return self.value_at_rank(nearest_rank(q, self.count))

    def quantile_ci(self, q: float, confidence: float = CONFIDENCE) -> tuple[float | None, ...]:
        """The quantile's distribution-free interval (``quantile_ranks``), in ms."""
        low, high = quantile_ranks(self.count, q, confidence)
        return tuple(None if r is None else self.value_at_rank(r) for r in (low, high))

    def mean(self) -> float | None:
        n = self.count
        return sum(k * c for k, c in self.counts.items()) / n / 1000.0 if n else None

    def max(self) -> float | None:
        return max(self.counts) / 1000.0 if self.counts else None

    def cv(self) -> float:
        """Coefficient of variation of the response times (0 below two requests)."""
        n, mean = self.count, self.mean()
        if n < 2 or not mean:
            return 0.0
        var = sum(c * (k / 1000.0 - mean) ** 2 for k, c in self.counts.items()) / (n - 1)
        return math.sqrt(var) / mean

    def summary(self) -> LatencyMs | None:
        """Nearest-rank percentiles, mean and max, as results.json holds them; None when empty."""
        if not self.counts:
            return None
        figures = {key: self.quantile(q) for key, q in QUANTILES.items()}
        return LatencyMs(**figures, mean=round(self.mean(), 2), max=self.max())
