"""Confidence intervals and comparisons: a hierarchical bootstrap over fresh runs and windows.

A cell's repeats are fresh server starts (runs), each measuring a few back-to-back windows.
Runs differ by start-up luck (how connections spread over workers, what else the machine did);
windows of one run differ by the run's own noise. Resampling windows alone would ignore the
first and make intervals too narrow, so the bootstrap resamples at both levels: runs with
replacement, then windows with replacement inside each chosen run. Throughput is the mean of
the resampled windows' rates; a percentile pools the resampled windows' raw timings.

With few runs the bootstrap knows only the spread it saw, so the interval of a cell measured
twice is optimistic; the report says how many runs each interval rests on.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
RESAMPLES = 1000
SEED = 11  # a fixed seed: the same data give the same interval, run after run

# A window's data as the bootstrap needs it: its rate and its response times (ms -> count).
Runs = Sequence[Sequence[tuple[float, Counter]]]


def quantile(times: Counter, q: float) -> float | None:
    """Nearest-rank quantile of counted values (exact: no interpolation, no bucket)."""
    n = sum(times.values())
    if n == 0:
        return None
    rank, seen = max(1, math.ceil(q * n)), 0
    for value, count in sorted(times.items()):
        seen += count
        if seen >= rank:
            return value
    return None


def _resample(runs: Runs, rng: random.Random) -> list[tuple[float, Counter]]:
    chosen = [runs[rng.randrange(len(runs))] for _ in runs]
    return [run[rng.randrange(len(run))] for run in chosen for _ in run]


def _interval(values: list[float]) -> tuple[float, float] | None:
    values = sorted(v for v in values if v is not None and math.isfinite(v))
    if not values:
        return None
    tail = (1 - CONFIDENCE) / 2
    low = values[max(0, math.floor(tail * len(values)))]
    high = values[min(len(values) - 1, math.ceil((1 - tail) * len(values)) - 1)]
    return low, high


def _statistic(windows, key: str) -> float | None:
    if key == "rps":
        return sum(rate for rate, _ in windows) / len(windows)
    pooled: Counter = Counter()
    for _, times in windows:
        pooled.update(times)
    return quantile(pooled, float(key))


def bootstrap(runs: Runs, keys: Sequence[str], resamples: int = RESAMPLES) -> dict:
    """95% percentile intervals of ``keys`` ("rps", or a quantile such as "0.99") over ``runs``.

    Each key's interval is [low, high]; with no data, None.
    """
    runs = [list(run) for run in runs if run]
    if not runs:
        return dict.fromkeys(keys)
    rng = random.Random(SEED)
    samples: dict[str, list] = {key: [] for key in keys}
    for _ in range(resamples):
        windows = _resample(runs, rng)
        for key in keys:
            samples[key].append(_statistic(windows, key))
    return {key: _interval(values) for key, values in samples.items()}


@dataclass(frozen=True)
class Ratio:
    """a / b with its 95% interval, and whether the interval leaves 1 out."""

    value: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return not self.low <= 1.0 <= self.high

    def text(self) -> str:
        verdict = "" if self.significant else ", not significant"
        return f"{self.value:.2f}x (95% CI {self.low:.2f}-{self.high:.2f}{verdict})"


def ratio(a: Runs, b: Runs, key: str = "rps", resamples: int = RESAMPLES) -> Ratio | None:
    """The ratio of ``key`` between two cells, each resampled on its own (they are independent).

    The verdict needs no threshold: the data cannot separate the two when 1 lies inside.
    """
    a = [list(r) for r in a if r]
    b = [list(r) for r in b if r]
    if not a or not b:
        return None
    point_a = _statistic([w for r in a for w in r], key)
    point_b = _statistic([w for r in b for w in r], key)
    if not point_a or not point_b:
        return None
    rng = random.Random(SEED)
    values = []
    for _ in range(resamples):
        top = _statistic(_resample(a, rng), key)
        bottom = _statistic(_resample(b, rng), key)
        if top is not None and bottom:
            values.append(top / bottom)
    interval = _interval(values)
    if interval is None:
        return None
    return Ratio(point_a / point_b, *interval)


def ratio_of_intervals(
    a: float, a_ci: Sequence[float], b: float, b_ci: Sequence[float]
) -> Ratio | None:
    """a / b when only the two cells' intervals are stored (results.json keeps no raw timings).

    Each interval is turned into a standard error (its half-width / 1.96) and the ratio's
    interval follows on the log scale, where the two errors add in quadrature.
    """
    if not a or not b or a <= 0 or b <= 0 or None in (*a_ci, *b_ci):
        return None
    z = _z()

    def log_se(value: float, ci: Sequence[float]) -> float:
        low, high = max(ci[0], 1e-9), max(ci[1], 1e-9)
        return max(abs(math.log(high / value)), abs(math.log(value / low))) / z

    se = math.hypot(log_se(a, a_ci), log_se(b, b_ci))
    value = a / b
    return Ratio(value, value * math.exp(-z * se), value * math.exp(z * se))


def _z() -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)


def contains(interval: Sequence[float] | None, value: float | None) -> bool:
    return bool(interval) and value is not None and interval[0] <= value <= interval[1]
