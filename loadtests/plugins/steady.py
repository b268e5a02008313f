"""Did a step reach a steady state within the SLO? The verdict on one step, from its trace.

Pure (NumPy, no Locust). A step starts from an empty queue, which near full load looks healthy
for a while; so its first ``warmup_s`` seconds are discarded and the rest is judged twice:

- **stationary**: completions keep up with arrivals within the arrivals' Poisson noise
  (``STATIONARY_Z`` standard deviations); the requests in flight in the last quarter of the
  judged part are not more than in its first quarter beyond their noise; and the share over the
  SLO in the second half is not worse than in the first beyond noise (two-share test);
- **within the SLO**: the share of requests over the SLO against ``1 - QUANTILE`` (1% for a
  p99), with a 95% interval. Requests over the SLO come in bursts (one excursion of the queue
  delays many in a row), so the interval is taken on the bursts: requests over the SLO less
  than ``BURST_SLOS`` SLOs apart count once, out of as many trials as the mean burst divides
  the requests into.

A running step is decided early only when it clearly fails: ``min_requests`` judged and the
interval wholly above 1% (``fails_clearly``). Otherwise it runs its whole length and holds if
stationary and at most 1% of its requests were over the SLO (``within_share``): a queue near
its knee goes seconds between bursts, so an early "clearly within" would be a lucky quiet
spell. The interval still tells the search whether a rate's pooled tests are close to 1%.

The generator is judged apart: a step whose schedule lag p99 passed ``LAG_LIMIT_MS`` or whose
share of requests begun more than ``LATE_MS`` late passed ``MAX_LATE_SHARE`` was limited by the
generator, whatever the latency from the send says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from loadtests.analysis.stats import two_share_z, wilson_interval
from loadtests.analysis.thresholds import LAG_LIMIT_MS, LATE_MS
from loadtests.model.latency import QUANTILES, LatencyMs, quantile_ranks

from .trace import StepTrace, latency_of, percentiles

QUANTILE = 0.99  # the SLO's percentile
ALLOWED_SHARE = 1.0 - QUANTILE  # of requests over the SLO
STATIONARY_Z = 3.0  # noise allowance of the stationarity checks, in standard deviations
MAX_LATE_SHARE = 0.01  # of requests begun more than LATE_MS after their instant
IN_FLIGHT_SAMPLES = 64  # instants at which the requests in flight are counted
# Requests over the SLO less than this many SLOs apart belong to one burst (one excursion of
# the queue).
BURST_SLOS = 4.0


@dataclass(frozen=True)
class Judgement:
    """One step's verdict on its steady part, with the measured values it rests on."""

    warmup_s: float
    requests: int  # judged requests (their outcome known)
    over_slo: int
    bursts: int  # runs of consecutive requests over the SLO
    stationary: bool
    decided: bool
    held: bool
    latency: LatencyMs  # from the intended start, the unanswered as the slowest
    p99_ci95: tuple[float | None, float | None]
    send_latency: LatencyMs  # from the send, of the answered
    generator_limited: bool
    late_share: float
    lag_p99_ms: float
    generator_cpu_share: float
    text: str


def _in_flight(intended: np.ndarray, done: np.ndarray, at: np.ndarray) -> np.ndarray:
    arrived = np.searchsorted(np.sort(intended), at, side="right")
    answered = np.searchsorted(np.sort(done[np.isfinite(done)]), at, side="right")
    return arrived - answered


def _bursts(instants: np.ndarray, gap_s: float) -> int:
    """Groups of requests over the SLO whose instants lie within ``gap_s`` of the previous."""
    if not len(instants):
        return 0
    return 1 + int(np.count_nonzero(np.diff(instants) > gap_s))


def within_share(over: int, requests: int) -> bool:
    """Whether ``over`` of ``requests`` is within ALLOWED_SHARE: the point estimate, once the
    interval could not settle it (a step's whole length, or a rate's pooled tests)."""
    return requests > 0 and over <= ALLOWED_SHARE * requests


def _tail(intended, done, failed, slo_s, warmup_s, last_s):
    """The judged requests' mask, which of them were over the SLO, and the share's bounds."""
    judged = (intended >= warmup_s) & (intended <= last_s)
    latency = done - intended  # NaN: not answered
    over = (~np.isfinite(latency) | (latency > slo_s) | failed)[judged]
    n, k = int(judged.sum()), int(over.sum())
    bursts = _bursts(intended[judged][over], BURST_SLOS * slo_s)
    effect = k / bursts if bursts else 1.0  # requests per burst: the design effect
    low, high = wilson_interval(k / effect, n / effect)
    return judged, latency, over, n, k, bursts, effect, low, high


def fails_clearly(
    trace: StepTrace, slo_ms: float, warmup_s: float, min_requests: int, now_s: float
) -> bool:
    """Whether a running step already has its verdict: ``min_requests`` judged and the share
    over the SLO's interval wholly above the allowed share (the cheap part of ``judge``)."""
    intended = np.asarray(trace.intended, dtype=float)
    slo_s = slo_ms / 1000.0
    done, failed = np.asarray(trace.done, dtype=float), np.asarray(trace.failed, dtype=bool)
    _, _, _, n, _, _, _, low, _ = _tail(intended, done, failed, slo_s, warmup_s, now_s - slo_s)
    return n >= min_requests and low > ALLOWED_SHARE


def judge(
    trace: StepTrace,
    slo_ms: float,
    warmup_s: float,
    min_requests: int,
    now_s: float | None = None,
) -> Judgement:
    """The verdict on ``trace`` so far (``now_s``: seconds into a step still running), or at its
    end (``now_s`` None: every request answered, failed or given up)."""
    a = trace.arrays()
    intended, done, failed = a["intended"], a["done"], a["failed"]
    final = now_s is None
    slo_s = slo_ms / 1000.0
    end_s = trace.paced_s if final else now_s
    # Judge the arrivals whose outcome is known: answered, or waiting longer than the SLO.
    last_s = end_s if final else end_s - slo_s
    judged, latency, over, n, k, bursts, effect, low, high = _tail(
        intended, done, failed, slo_s, warmup_s, last_s
    )
    within = True if high <= ALLOWED_SHARE else False if low > ALLOWED_SHARE else None

    # Stationarity over the judged span [warm-up, end].
    span = max(end_s - warmup_s, 1e-9)
    arrivals = int(np.count_nonzero((intended >= warmup_s) & (intended <= end_s)))
    completions = int(np.count_nonzero((done >= warmup_s) & (done <= end_s)))
    keeps_up = arrivals - completions <= STATIONARY_Z * math.sqrt(max(arrivals, 1))
    at = warmup_s + span * (np.arange(IN_FLIGHT_SAMPLES) + 0.5) / IN_FLIGHT_SAMPLES
    flying = _in_flight(intended, done, at)
    quarter = IN_FLIGHT_SAMPLES // 4
    first_q, last_q = float(flying[:quarter].mean()), float(flying[-quarter:].mean())
    growing = last_q - first_q > STATIONARY_Z * math.sqrt(first_q + last_q + 1.0)
    middle = warmup_s + (last_s - warmup_s) / 2
    first_half = intended[judged] < middle
    k1, n1 = int(over[first_half].sum()), int(first_half.sum())
    k2, n2 = k - k1, n - n1
    worse_z = two_share_z(k1 / effect, n1 / effect, k2 / effect, n2 / effect)
    tail_worse = worse_z > STATIONARY_Z
    stationary = keeps_up and not growing and not tail_worse

    # Only a clear failure ends a step early: a step holds only on its whole length, since
    # a queue near its knee goes seconds between bursts over the SLO.
    decided = final or (n >= min_requests and within is False)
    held = final and stationary and within_share(k, n)

    # Nearest-rank over every judged request, the unanswered as the slowest (no figure).
    answered = latency_of(latency[judged])
    p99_ci = tuple(answered.value_at_rank(r) if r else None for r in quantile_ranks(n, QUANTILE))

    lag = (a["began"] - intended)[np.isfinite(a["began"])]
    late_share = float(np.mean(lag > LATE_MS / 1000.0)) if len(lag) else 0.0
    lag_p99_ms = latency_of(lag).quantile(QUANTILE) or 0.0  # None (no lag measured): 0
    limited = lag_p99_ms > LAG_LIMIT_MS or late_share > MAX_LATE_SHARE

    text = (
        f"warm-up {warmup_s:.1f} s discarded; {n} requests judged over {span:.1f} s: {k} over "
        f"{slo_ms:g} ms ({k / max(n, 1):.2%}, 95% [{low:.2%}, {high:.2%}] on {bursts} bursts) "
        f"{'within' if within else 'over' if within is False else 'too close to'} "
        f"{ALLOWED_SHARE:.0%}; completions {completions} of {arrivals} arrivals "
        f"({'keep up' if keeps_up else 'fall behind'}); in flight {first_q:.1f} -> {last_q:.1f} "
        f"({'growing' if growing else 'not growing'}); second half's share over the SLO "
        f"{k2 / max(n2, 1):.2%} against {k1 / max(n1, 1):.2%} "
        f"({'worse' if tail_worse else 'no worse'} beyond noise); generator: lag p99 "
        f"{lag_p99_ms:g} ms, {late_share:.1%} late, {trace.generator_cpu_share:.0%} of a core"
        f"{' (limited)' if limited else ''}"
    )
    return Judgement(
        warmup_s=warmup_s,
        requests=n,
        over_slo=k,
        bursts=bursts,
        stationary=stationary,
        decided=decided,
        held=held,
        latency=LatencyMs(
            **{k: answered.value_at_rank(max(1, math.ceil(q * n))) for k, q in QUANTILES.items()}
        ),
        p99_ci95=p99_ci,
        send_latency=percentiles((done - a["sent"])[judged]),
        generator_limited=limited,
        late_share=late_share,
        lag_p99_ms=lag_p99_ms,
        generator_cpu_share=trace.generator_cpu_share,
        text=text,
    )
