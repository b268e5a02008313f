"""Confidence intervals and comparisons.

A cell's repeats are fresh server starts (runs), each measuring a few back-to-back windows.
Runs differ by start-up luck (how connections spread over workers, what else the machine did);
windows of one run differ by the run's own noise. A cell's intervals (``bootstrap``) resample
at both levels: runs with replacement, then windows with replacement inside each chosen run
(resampling windows alone would ignore the first and make intervals too narrow). Throughput is
the mean of the resampled windows' rates; a percentile pools their raw timings. With three runs
such an interval knows only the spread it saw; a comparison of two cells (``ratio_of_means``)
therefore uses Student's t over the runs' means, which widens with few runs, for its verdict.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from loadtests.model.latency import CONFIDENCE, Latency, nearest_rank

RESAMPLES = 1000
SEED = 11  # a fixed seed: the same data give the same interval, run after run

# A window's data as the bootstrap needs it: its rate and its response times.
Runs = Sequence[Sequence[tuple[float, Latency]]]


def _interval(values: np.ndarray) -> tuple[float, float] | None:
    values = sorted(v for v in values.tolist() if math.isfinite(v))
    if not values:
        return None
    tail = (1 - CONFIDENCE) / 2
    low = values[max(0, math.floor(tail * len(values)))]
    high = values[min(len(values) - 1, math.ceil((1 - tail) * len(values)) - 1)]
    return low, high


def _statistics(
    windows: Sequence[tuple[float, Latency]], picks: np.ndarray, keys: Sequence[str]
) -> np.ndarray:
    """Each key's statistic (a column) for each pick of ``windows`` (a row: how many times each
    window is taken): the windows' mean rate, or a quantile of their pooled times, nearest-rank
    as ``Latency.quantile`` (NaN: no time). The times are a matrix of counts (windows x buckets),
    so a pick pools them in one product, not a merge of dicts a thousand times over."""
    rates = np.array([rate for rate, _ in windows])
    buckets = np.array(sorted({b for _, times in windows for b in times.counts}), dtype=np.int64)
    counts = np.zeros((len(windows), len(buckets)), dtype=np.int64)
    for row, (_, times) in zip(counts, windows, strict=True):
        row[np.searchsorted(buckets, list(times.counts))] = list(times.counts.values())
    out = np.full((len(picks), len(keys)), np.nan)
    for column, key in enumerate(keys):
        if key == "rps":
            out[:, column] = picks @ rates / picks.sum(axis=1)
    quantiles = [(column, float(key)) for column, key in enumerate(keys) if key != "rps"]
    if not quantiles or not len(buckets):
        return out
    for pick, result in zip(picks, out, strict=True):
        seen = np.cumsum(pick @ counts)  # requests at or below each bucket
        total = int(seen[-1])
        if not total:
            continue  # the picked windows recorded no time
        for column, q in quantiles:
            result[column] = buckets[np.searchsorted(seen, nearest_rank(q, total))] / 1000.0
    return out


def _all(windows: Sequence) -> np.ndarray:
    return np.ones((1, len(windows)), dtype=np.int64)


def bootstrap(runs: Runs, keys: Sequence[str], resamples: int = RESAMPLES) -> dict:
    """95% percentile intervals of ``keys`` ("rps", or a quantile such as "0.99") over ``runs``.

    Each key's interval is [low, high]; with no data, None.
    """
    runs = [list(run) for run in runs if run]
    if not runs:
        return dict.fromkeys(keys)
    rng = random.Random(SEED)
    windows = [w for run in runs for w in run]
    first = [0, *itertools.accumulate(len(run) for run in runs)]  # each run's first window
    picks = []
    for _ in range(resamples):  # runs with replacement, then windows of each chosen run
        chosen = [rng.randrange(len(runs)) for _ in runs]
        taken = [first[r] + rng.randrange(len(runs[r])) for r in chosen for _ in runs[r]]
        picks.append(np.bincount(taken, minlength=len(windows)))
    samples = _statistics(windows, np.array(picks), keys)
    return {key: _interval(samples[:, column]) for column, key in enumerate(keys)}


def run_intervals(runs: Runs, keys: Sequence[str], resamples: int = RESAMPLES) -> dict:
    """95% intervals of ``keys`` over fresh runs that mean 95% with few runs.

    Throughput: Student's t over the runs' mean rates (the run is the independent unit; t
    widens as few runs demand, where a bootstrap of three runs cannot reach beyond their range).
    A percentile: the wider of the two-level bootstrap (``bootstrap``) and Student's t over the
    runs' own percentiles, centred on the pooled one. With one run only the bootstrap over its
    windows is left: it knows that run's noise, not the start-up luck between runs.
    """
    runs = [list(run) for run in runs if run]
    out = bootstrap(runs, keys, resamples)
    if len(runs) < 2:
        return out
    per_run = [_statistics(run, _all(run), keys)[0].tolist() for run in runs]
    every = [w for run in runs for w in run]
    pooled = _statistics(every, _all(every), keys)[0].tolist()
    for index, key in enumerate(keys):
        t = mean_ci95([x[index] for x in per_run if not math.isnan(x[index])])
        if t is None or key == "rps":
            out[key] = out[key] if t is None else t[1:]
            continue
        centre, half = pooled[index], (t[2] - t[1]) / 2
        booted = out[key] or (math.inf, -math.inf)
        out[key] = (min(centre - half, booted[0]), max(centre + half, booted[1]))
    return out


def ratio_digits(low: float, high: float, least: int = 2, most: int = 4) -> int:
    """Decimals that show a ratio's interval on the side of 1 it lies: an interval that leaves 1
    out never prints a bound of 1.00 (1.003 is not 1.00, and the verdict must be readable)."""
    digits = least
    while digits < most and (
        (low > 1.0 and round(low, digits) <= 1.0) or (high < 1.0 and round(high, digits) >= 1.0)
    ):
        digits += 1
    return digits


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
        d = ratio_digits(self.low, self.high)
        return f"{self.value:.{d}f}x (95% CI {self.low:.{d}f}-{self.high:.{d}f}{verdict})"


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile: the t with P(T <= t) = p, for any df > 0 (inf: the normal's)."""
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, not p={p}, df={df}")
    # Imported here, at the first use: every Locust process imports this module (through the
    # open model's search) and never asks for a t quantile, and scipy.stats is 0.7 s of imports.
    import scipy.stats

    return float(scipy.stats.t.ppf(p, df))


def t_975(df: float) -> float:
    """The two-sided 95% multiplier of Student's t (the normal's 1.96 only as df -> inf)."""
    return t_quantile(0.5 + CONFIDENCE / 2, df)


def mean_ci95(values: Sequence[float]) -> tuple[float, float, float] | None:
    """(mean, low, high): Student's t interval of the mean of independent values (two or more).

    With few values t widens the interval as a percentile bootstrap cannot (three values
    bootstrap to at most their own range)."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    half = t_975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def welch_log_ratio(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float] | None:
    """(mean(a) / mean(b), the standard error of its log, Welch's degrees of freedom).

    Delta method: the variance of log(mean) is var / (n mean^2). None unless each side has two
    or more values and both means are positive."""
    if min(len(a), len(b)) < 2:
        return None
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    if mean_a <= 0 or mean_b <= 0:
        return None
    va = statistics.variance(a) / (len(a) * mean_a**2)
    vb = statistics.variance(b) / (len(b) * mean_b**2)
    se = math.sqrt(va + vb)
    df = (
        (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
        if va + vb > 0
        else float("inf")
    )
    return mean_a / mean_b, se, df


# The power at which "the smallest difference the run could have detected" is quoted.
POWER = 0.8


def detectable_ratio(se: float, df: float) -> float:
    """The smallest ratio (> 1) that a two-sided 95% test with this log-scale standard error
    finds with probability ``POWER``: exp((t_.975 + t_power) x se)."""
    return math.exp((t_975(df) + t_quantile(POWER, df)) * se)


def ratio_of_means(a: Sequence[float], b: Sequence[float]) -> Ratio | None:
    """mean(a) / mean(b) of independent values (fresh runs, fresh searches), with Welch's
    interval on the log scale."""
    welch = welch_log_ratio(a, b)
    if welch is None:
        return None
    value, se, df = welch
    half = t_975(df) * se
    return Ratio(value, value * math.exp(-half), value * math.exp(half))


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> Ratio | None:
    """a / b from paired measurements (a[i] and b[i] side by side): the geometric mean of the
    pairs' ratios, with Student's t interval of their logs (a paired t-test on the log scale).

    Pairing removes what each pair shares (the machine's drift, the server's state); the t
    interval widens as few pairs demand, where a bootstrap of five pairs could not reach beyond
    their own range. Needs two pairs with both values positive.
    """
    logs = [math.log(x / y) for x, y in zip(a, b, strict=True) if x and y and x > 0 and y > 0]
    t = mean_ci95(logs)
    return Ratio(*(math.exp(x) for x in t)) if t else None


# A step's tail (the open model's verdict on a p99 SLO is a test on the share of its requests
# over the SLO): the share's 95% interval (Wilson's score interval, good at the small shares a
# p99 concerns) says whether it is clearly within 1%, clearly over it, or too close to tell.


def _z(confidence: float = CONFIDENCE) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(
    successes: float, trials: float, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """The share's two-sided interval; ``successes`` and ``trials`` may be effective (fractional)
    counts, as after dividing by a design effect."""
    if trials <= 0:
        return 0.0, 1.0
    z = _z(confidence)
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = (
        z / (1 + z * z / trials) * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials**2))
    )
    return max(0.0, centre - half), min(1.0, centre + half)


def two_share_z(over_a: float, count_a: float, over_b: float, count_b: float) -> float:
    """How many standard errors the share b exceeds the share a by (pooled two-proportion test);
    0 when either is empty or neither has any."""
    if count_a <= 0 or count_b <= 0:
        return 0.0
    pooled = (over_a + over_b) / (count_a + count_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / count_a + 1 / count_b))
    if spread == 0:
        return 0.0
    return (over_b / count_b - over_a / count_a) / spread


def requests_to_bound(share: float, confidence: float = CONFIDENCE) -> int:
    """The fewest requests whose interval, with none of them over, lies within ``share``."""
    z = _z(confidence)
    return math.ceil(z * z * (1 - share) / share)
