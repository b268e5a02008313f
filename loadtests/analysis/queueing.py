"""Queueing theory beside the capacity map: the M/D/c answer for a slot-bound server.

A slot-bound configuration (a WSGI worker's threads, a pool of connections) is c servers with a
fixed service time D fed by Poisson arrivals at rate λ: M/D/c. Its λ* is the highest steady rate
whose p99 response time (wait + D) meets the SLO, which the report sets beside the measured λ*.

The waiting time is computed exactly (to the truncation of a geometric tail), by Crommelin's
argument (1932):

- Over one service time the c earliest customers present all leave (those in service finish,
  the next c waiting start and so do not outlast it), and every arrival stays: the number in the
  system D apart is N' = max(N - c, 0) + A, A ~ Poisson(λD). Its stationary law p is the fixed
  point of that chain (``_number_in_system``).
- A customer arriving at t waits at most x = kD + u (0 <= u < D) when fewer than c of those who
  came before it are left at t + x. Counting from s = t - (D - u), when the system holds N ~ p:
  P(W <= kD + u) = sum_n p_n P(Poisson(λ(D - u)) <= (k + 1)c - 1 - max(n - c, 0)).

The chain is iterated with numpy's convolution (each of a report's handful in well under a
second); the Poisson laws are scipy's.
"""

from __future__ import annotations

import functools
import math

import numpy as np

P99 = 0.99
# The stationary chain is iterated until its distribution moves less than this (L1).
TOLERANCE = 1e-10
MAX_ITERATIONS = 200_000
# The highest load searched, as a share of the slots' ceiling c / D: the chain's relaxation
# grows as 1 / (1 - load)^2, and an SLO met there is met by any steady rate a test can tell.
MAX_LOAD = 0.99


def _tail_root(servers: int, arrivals_per_service: float) -> float:
    """The root z > 1 of z^c = exp(λD (z - 1)), where c log z - λD (z - 1) turns negative."""

    def gap(z: float) -> float:
        return servers * math.log(z) - arrivals_per_service * (z - 1.0)

    # scipy is imported where it is used, here and below: every sweep process imports this
    # module (through the capacity plans) and most never ask it a question.
    import scipy.optimize

    high = 2.0
    while gap(high) > 0:
        high *= 2.0
    return scipy.optimize.brentq(gap, 1.0 + 1e-12, high, xtol=1e-15)


@functools.lru_cache(maxsize=64)
def _number_in_system(servers: int, arrivals_per_service: float) -> np.ndarray:
    """The stationary law of N, the number in the system, seen D apart (see the module)."""
    from scipy.stats import poisson

    # P(A = k) until what is left of the tail is negligible.
    a = poisson.pmf(np.arange(poisson.isf(1e-14, arrivals_per_service) + 1), arrivals_per_service)
    load = arrivals_per_service / servers
    # Truncate where a geometric tail of the load's decay rate has left nothing to count.
    size = servers + len(a) + int(40.0 / max(1.0 - load, 1e-3))
    # Start from a geometric tail at the decay rate the chain's generating function gives
    # (the root z > 1 of z^c = exp(λD(z - 1))): close to the answer, so few iterations.
    decay = 1.0 / _tail_root(servers, arrivals_per_service)
    p = decay ** np.maximum(np.arange(size) - servers, 0)
    p /= p.sum()
    for _ in range(MAX_ITERATIONS):
        # N - c, floored at 0 (everyone at or below c leaves: state 0), then plus A.
        shifted = np.concatenate(([p[: servers + 1].sum()], p[servers + 1 :]))
        after = np.convolve(shifted, a)[:size]
        after /= after.sum()
        moved = float(np.abs(after - p).sum())
        p = after
        if moved < TOLERANCE:
            break
    p.flags.writeable = False  # cached: shared by every caller
    return p


def mdc_wait_cdf(servers: int, service_s: float, rate: float, wait_s: float) -> float:
    """P(W <= wait_s) in M/D/c with ``servers`` servers, service ``service_s``, arrivals
    ``rate`` per second (FCFS, stationary; rate < servers / service_s)."""
    if rate <= 0 or wait_s < 0:
        return 1.0 if wait_s >= 0 else 0.0
    if rate * service_s >= servers:
        return 0.0
    from scipy.stats import poisson

    p = _number_in_system(servers, rate * service_s)
    k, u = divmod(wait_s, service_s)
    room = (int(k) + 1) * servers - 1
    left = room - np.maximum(np.arange(len(p)) - servers, 0)
    return float(p @ poisson.cdf(left, rate * (service_s - u)))


def mdc_lambda_star(servers: int, service_s: float, slo_p99_ms: float) -> float:
    """The highest steady arrival rate (per second) whose p99 response time meets the SLO, for
    ``servers`` slots each holding a request ``service_s``: M/D/c. 0 when even one request
    alone misses it (the service time is over the SLO)."""
    if servers < 1 or service_s <= 0:
        raise ValueError(
            f"M/D/c needs servers >= 1 and a service time > 0, not {servers}, {service_s}"
        )
    wait_s = slo_p99_ms / 1000.0 - service_s
    if wait_s < 0:
        return 0.0
    ceiling = servers / service_s

    def meets(rate: float) -> bool:
        return mdc_wait_cdf(servers, service_s, rate, wait_s) >= P99

    # Up from half the ceiling, halving the distance to it, so that the slow high loads are
    # evaluated only when the SLO is met below them; then bisect.
    low, high = 0.0, 0.5
    while meets(high * ceiling):
        if high >= MAX_LOAD:
            return MAX_LOAD * ceiling
        low, high = high, min(MAX_LOAD, 1.0 - (1.0 - high) / 2.0)
    while high - low > 2e-4 * low:
        middle = (low + high) / 2.0
        low, high = (middle, high) if meets(middle * ceiling) else (low, middle)
    return low * ceiling
