"""When a run has warmed up: the steady-state rule, applied to short sub-windows as they end.

The rule: the last ``STEADY_SUBWINDOWS`` sub-windows each hold a rate and a median latency
within ``STEADY_TOLERANCE`` of those sub-windows' own means. A run that has not settled after
``STEADY_CAP_S`` seconds is measured anyway and its cell flagged ``never-steady``. Pure: the
window plugin feeds it (rate, median) pairs; the report states the rule from these constants.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

STEADY_SUBWINDOWS = 3
STEADY_TOLERANCE = 0.10  # of the sub-windows' mean
# A sub-window lasts at least this, at least one expected latency (users / expected rate, by
# Little's law), and long enough for SUBWINDOW_MIN_REQUESTS completions at the expected rate.
SUBWINDOW_MIN_S = 0.5
SUBWINDOW_MIN_REQUESTS = 50
STEADY_CAP_S = 20.0  # longer than this, and the run is measured as it is and flagged
# Windows: long enough for this many requests at the expected rate, within these bounds.
WINDOW_MIN_REQUESTS = 300  # per run: its windows together
WINDOW_MAX_S = 2.0


def subwindow_s(users: int, expected_rps: float) -> float:
    if expected_rps <= 0:
        return STEADY_CAP_S / STEADY_SUBWINDOWS
    return round(
        max(SUBWINDOW_MIN_S, users / expected_rps, SUBWINDOW_MIN_REQUESTS / expected_rps), 3
    )


def window_s(least_s: float, expected_rps: float) -> float:
    """A window long enough for WINDOW_MIN_REQUESTS at ``expected_rps`` (the rate of all of a
    run's windows together), at least ``least_s``; a slow cell gets WINDOW_MAX_S, and its
    cell's request count says how few it got."""
    wanted = WINDOW_MIN_REQUESTS / expected_rps if expected_rps > 0 else WINDOW_MAX_S
    return round(max(least_s, min(wanted, WINDOW_MAX_S)), 2)


def settled(values: Sequence[float], tolerance: float = STEADY_TOLERANCE) -> bool:
    if any(v is None for v in values):
        return False
    mean = statistics.fmean(values)
    if mean <= 0:
        return False
    return all(abs(v - mean) <= tolerance * mean for v in values)


def is_steady(
    samples: Sequence[tuple[float, float | None]],
    count: int = STEADY_SUBWINDOWS,
    tolerance: float = STEADY_TOLERANCE,
) -> bool:
    """Whether the last ``count`` (rate, median) sub-windows satisfy the rule."""
    if len(samples) < count:
        return False
    last = samples[-count:]
    return settled([r for r, _ in last], tolerance) and settled([m for _, m in last], tolerance)


def rule_text() -> str:
    return (
        f"warm-up ends when the last {STEADY_SUBWINDOWS} sub-windows (each the longest of "
        f"{SUBWINDOW_MIN_S:g} s, one expected latency and {SUBWINDOW_MIN_REQUESTS} requests at "
        "the model's rate) have a rate and "
        f"a median latency each within {STEADY_TOLERANCE:.0%} of their mean; a run not steady "
        f"after {STEADY_CAP_S:g} s is measured anyway and flagged never-steady. A run's windows "
        f"together last long enough for {WINDOW_MIN_REQUESTS} requests at the model's rate "
        f"(each at most {WINDOW_MAX_S:g} s: a slower cell's request count says how few it got)"
    )
