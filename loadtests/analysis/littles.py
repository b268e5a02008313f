"""Little's law on a closed loop's own data: the users in flight, measured, and its tolerance.

Measured concurrency is rps x mean latency. A closed loop of U users holds at most U requests
in flight, so a value above U is a measurement artefact (users in lockstep whose waves the
window cut unevenly, or edges that disagree). Below U the users spent time outside requests.

The tolerance is three standard errors of the estimate from the window's own data. The count
of n completions in a window: each staggered user's phase at the two edges adds at most a
quarter request of variance (U / 4 in all), and latency's own variability adds n x cv^2
(a renewal count's variance); the mean latency's relative error is cv / sqrt(n). So
    tolerance = Z x U x sqrt((U / 4 + n cv^2) / n^2 + cv^2 / n).
Users in lockstep share one phase, their edge error is up to U at once: well outside it.
"""

from __future__ import annotations

import math

Z = 3.0


def concurrency(rps: float | None, mean_ms: float | None) -> float | None:
    if not rps or mean_ms is None:
        return None
    return rps * mean_ms / 1000.0


def tolerance(users: int, requests: int, cv: float) -> float:
    """In users: how far measured concurrency may stray from ``users`` by chance."""
    if requests <= 0:
        return float(users)
    n = float(requests)
    return Z * users * math.sqrt((users / 4 + n * cv * cv) / (n * n) + cv * cv / n)


FLAG = "concurrency-above-users"


def flag(users: int, measured: float | None, tol: float) -> str | None:
    """The cell's flag when more requests were in flight than users, beyond chance.

    Below ``users`` is no error: it measures the time users spent between requests (Locust's
    own work on each answer), which the report states as a share of their time.
    """
    if measured is not None and measured > users + tol:
        return FLAG
    return None


def outside_share(users: int, measured: float | None) -> float | None:
    """The share of the users' time spent outside a request (0: always waiting for one)."""
    return None if measured is None or users <= 0 else max(0.0, 1.0 - measured / users)
