"""The statistics of a step's tail: a share's confidence bound, and two shares compared.

Pure (stdlib only). A step's verdict on a p99 SLO is a test on the share of its requests over
the SLO: the share's 95% interval (Wilson's score interval, good at the small shares a p99
concerns) says whether that share is clearly within 1%, clearly over it, or too close to tell.
A quantile's own interval is the latency's (``loadtests.model.latency.quantile_ranks``).
"""

from __future__ import annotations

import math
from statistics import NormalDist

CONFIDENCE = 0.95


def _z(confidence: float) -> float:
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
