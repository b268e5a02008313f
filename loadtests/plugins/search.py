"""The capacity search's policy: which arrival rate to try next, for how long, and when λ* is known.

Pure (no Locust, no I/O), so it can be driven by a simulated queue. A search:

1. **calibrates** (``calibration_s`` > 0): a short step at ``CALIBRATION_SHARE`` of the start
   rate measures the generator's CPU per request (and shows the service time); rises then
   never jump past the rate the generator can pace with ``GENERATOR_MAX_SHARE`` of a core;
2. **brackets**: from ``start_rps`` (where the model says the knee is, when the caller knows:
   a slot ceiling's ``CEILING_START_SHARE``) up or down by ``growth`` until a rate held and a
   higher one failed;
3. **bisects** until the failed rate is within ``precision`` of the held one;
4. **re-tests the edges** with fresh arrivals: each edge is tested at least ``edge_tests``
   times (``TESTS_PER_EDGE``), up to ``max_edge_tests`` (``MAX_TESTS_PER_EDGE``) while its
   pooled share over the SLO is too close to 1% to tell (its 95% interval holds 1%); a rate's
   verdict is on its tests pooled (most of them stationary and without errors, and at most 1% of
   all their requests over the SLO), so one unlucky step cannot fix λ*; a re-test that turns an
   edge over sends the search back to bisecting.

Each step is judged on its steady part (below): a warm-up of
``WARMUP_RELAXATIONS`` relaxation times of the queue at that load is discarded (for a queue
with ceiling C at utilisation u = λ/C, a relaxation time is about 2u / (C (1 - u)²), the
diffusion approximation of a queue with Poisson arrivals and fixed service; C is the slot
ceiling when the caller gives it, else the lowest rate that failed, else λ / ``RHO_UNKNOWN``).
It may end (failed) once ``min_requests`` requests and ``min_step_s`` seconds are judged and the
share over the SLO is clearly above 1%; otherwise it runs to ``step_requests`` requests (and the
``HOLD_MARGIN`` x the requests that, none over, would prove the share within 1%), at least
``least_hold_s`` (the SLO / ``precision``) and at most ``max_step_s`` seconds: a queue near its
knee goes seconds between excursions over the SLO, so a hold needs the whole length. A step
fails when ``MAX_ERROR_RATIO`` of its requests or more failed or were dropped. A step the
generator could not pace (its schedule lag or late share) never counts against the server: it is
run again once, and at the ``GENERATOR_STRIKES``-th such step the search stops there and λ* is a
lower bound.

Tuned on simulated queues (``tests/loadtests/plugins/queue_sim.py``): M/D/5, M/D/8, M/D/10 and
a CPU-bound single server, where pooling each edge's tests and holding on their point estimate
lands 93-100% of searches within 7% of the steady-state answer; a per-step upper bound instead
skews λ* low, a single step's point estimate high (over-SLO requests come in rare bursts).

λ*, its bracket and its steps come from this one search; the bracket's rates are the realised
offered rates (arrivals / seconds) of the edges' tests, averaged.

## The verdict on one step

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
import statistics
from dataclasses import dataclass, field

import numpy as np

from loadtests.analysis.stats import requests_to_bound, two_share_z, wilson_interval
from loadtests.analysis.thresholds import LAG_LIMIT_MS, LATE_MS
from loadtests.model.latency import QUANTILES, LatencyMs, quantile_ranks

from .trace import StepTrace, latency_of, percentiles

# A step fails when this share of its requests or more failed or were never started.
MAX_ERROR_RATIO = 0.001
# The default SLO: p99 from the intended start within SLO_FACTOR x service time + SLO_MARGIN_MS.
SLO_FACTOR = 2.0
SLO_MARGIN_MS = 20.0
MIN_STEP_REQUESTS = 300  # judged requests before a step may be decided
MIN_STEP_S = 1.0  # judged seconds, at least
MAX_STEP_S = 30.0  # judged seconds, at most
MAX_WARMUP_S = 5.0
MIN_WARMUP_S = 0.5  # and at least WARMUP_SLOS x the SLO
WARMUP_SLOS = 3.0
WARMUP_RELAXATIONS = 2.0
RHO_UNKNOWN = 0.85  # the utilisation assumed when nothing bounds the ceiling yet
RHO_CAP = 0.95  # the relaxation time diverges at 1: the warm-up is capped anyway
CHECK_EVERY_S = 0.5  # a running step's verdict is looked at this often, once it may be decided
CALIBRATION_SHARE = 0.25
CALIBRATION_S = 2.0
CEILING_START_SHARE = 0.75
GENERATOR_MAX_SHARE = 0.8  # of one core: the generator's pacing rate for rises
PRECISION = 0.05
GROWTH = 2.0  # between steps while bracketing, when nothing says where the knee is
NEAR_GROWTH = 1.25  # and when a slot ceiling does
MAX_STEPS = 28
# Generator-limited steps before the search stops (the first may be the machine's passing load:
# the rate is tried again with fresh arrivals; none counts against the server).
GENERATOR_STRIKES = 2
TESTS_PER_EDGE = 3  # each edge's tests, at least
MAX_TESTS_PER_EDGE = 6  # and at most, while its pooled verdict is close
STEP_REQUESTS = 800  # judged requests a step runs to (unless it fails clearly first)
HOLD_MARGIN = 1.25  # x the requests that can prove a step within the SLO


QUANTILE = 0.99  # the SLO's percentile
ALLOWED_SHARE = 1.0 - QUANTILE  # of requests over the SLO
STATIONARY_Z = 3.0  # noise allowance of the stationarity checks, in standard deviations
MAX_LATE_SHARE = 0.01  # of requests begun more than LATE_MS after their instant
IN_FLIGHT_SAMPLES = 64  # instants at which the requests in flight are counted
# Requests over the SLO less than this many SLOs apart belong to one burst (one excursion of
# the queue).
BURST_SLOS = 4.0


def default_slo_ms(service_time_s: float) -> float:
    return SLO_FACTOR * service_time_s * 1000.0 + SLO_MARGIN_MS


def slo_rule() -> str:
    """The default SLO in words, from the constants."""
    return f"p99 from the intended start <= {SLO_FACTOR:g} x service time + {SLO_MARGIN_MS:g} ms"


def step_rule(
    min_requests: int = MIN_STEP_REQUESTS,
    min_step_s: float = MIN_STEP_S,
    max_step_s: float = MAX_STEP_S,
    step_requests: int = STEP_REQUESTS,
) -> str:
    return (
        f"each step lasts max({min_step_s:g} s, {min_requests} requests / rate) at least before "
        f"it may fail, after a warm-up of {WARMUP_RELAXATIONS:g} relaxation times (at least "
        f"{MIN_WARMUP_S:g} s and {WARMUP_SLOS:g} x the SLO, at most {MAX_WARMUP_S:g} s) that is "
        f"not judged, and runs to max(SLO / precision, {step_requests} requests / rate) (at "
        f"most {max_step_s:g} s) to hold, the precision being the bracket's ({PRECISION:.0%} for "
        f"the lab's views): a queue that much over its ceiling waits that share of a second "
        f"longer each second, so it passes the SLO only after that long; each edge of the "
        f"bracket is tested "
        f"{TESTS_PER_EDGE} to {MAX_TESTS_PER_EDGE} times with fresh arrivals, pooled"
    )


def least_hold_s(slo_p99_ms: float, precision: float, min_step_s: float = MIN_STEP_S) -> float:
    """Judged seconds a step runs to, at least, before it may hold: a queue over its ceiling by
    ``precision`` adds about ``precision`` seconds of wait each second, so its newest requests
    pass the SLO only after SLO / ``precision`` seconds (4.4 s for a 220 ms SLO at 5%); and
    never less than ``min_step_s``."""
    return max(min_step_s, slo_p99_ms / 1000.0 / precision)


def relaxation_s(rate: float, ceiling_rps: float) -> float:
    """The queue's relaxation time at ``rate`` under a ceiling of ``ceiling_rps``."""
    rho = min(rate / ceiling_rps, RHO_CAP)
    return 2.0 * rho / (ceiling_rps * (1.0 - rho) ** 2)


@dataclass(frozen=True)
class Judgement:
    """One step's verdict on its steady part, with the measured values it rests on."""

    warmup_s: float
    requests: int  # judged requests (their outcome known)
    over_slo: int
    bursts: int  # runs of consecutive requests over the SLO
    stationary: bool
    held: bool
    latency: LatencyMs  # from the intended start, the unanswered as the slowest
    p99_ci95: tuple[float | None, float | None]
    send_latency: LatencyMs  # from the send, of the answered
    generator_limited: bool
    late_share: float
    lag_p99_ms: float
    generator_cpu_share: float
    text: str
    offered_rps: float  # the step's realised rate: arrivals / seconds
    scheduled: int  # its arrivals
    errors: int  # of them, failed, unanswered or dropped


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


def _interval(over: float, requests: float, bursts: int) -> tuple[float, float, float]:
    """The design effect (requests per burst over the SLO) and the share's 95% interval on the
    bursts."""
    effect = over / bursts if bursts else 1.0
    return effect, *wilson_interval(over / effect, requests / effect)


def _tail(intended, done, failed, slo_s, warmup_s, last_s):
    """The judged requests' mask, which of them were over the SLO, and in how many bursts."""
    judged = (intended >= warmup_s) & (intended <= last_s)
    latency = done - intended  # NaN: not answered
    over = (~np.isfinite(latency) | (latency > slo_s) | failed)[judged]
    return judged, latency, over, _bursts(intended[judged][over], BURST_SLOS * slo_s)


def fails_clearly(
    trace: StepTrace, slo_ms: float, warmup_s: float, min_requests: int, now_s: float
) -> bool:
    """Whether a running step already has its verdict: ``min_requests`` judged and the share
    over the SLO's interval wholly above the allowed share (the cheap part of ``judge``)."""
    a = {n: np.asarray(getattr(trace, n), dtype=float) for n in ("intended", "done")}
    failed, slo_s = np.asarray(trace.failed, dtype=bool), slo_ms / 1000.0
    _, _, over, bursts = _tail(a["intended"], a["done"], failed, slo_s, warmup_s, now_s - slo_s)
    _, low, _ = _interval(int(over.sum()), len(over), bursts)
    return len(over) >= min_requests and low > ALLOWED_SHARE


def judge(
    trace: StepTrace, slo_ms: float, warmup_s: float, now_s: float | None = None
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
    judged, latency, over, bursts = _tail(intended, done, failed, slo_s, warmup_s, last_s)
    n, k = len(over), int(over.sum())
    effect, low, high = _interval(k, n, bursts)
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

    # A step holds only on its whole length, since a queue near its knee goes seconds between
    # bursts over the SLO (only a clear failure ends it early: ``fails_clearly``).
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
        offered_rps=trace.offered_rps,
        scheduled=len(intended),
        errors=int(np.count_nonzero(failed)),
    )


@dataclass(frozen=True)
class StepPlan:
    """What the next step is: its rate, how much of it is warm-up, how long it may judge."""

    index: int
    rate: float
    warmup_s: float
    min_s: float  # judged seconds before it may be decided
    max_s: float  # judged seconds at most
    calibration: bool = False

    @property
    def longest_s(self) -> float:
        return self.warmup_s + self.max_s

    @property
    def shortest_s(self) -> float:
        return self.warmup_s + self.min_s


@dataclass
class Search:
    slo_p99_ms: float
    start_rps: float
    max_rps: float
    growth: float = 0.0  # 0: NEAR_GROWTH with a ceiling, else GROWTH
    precision: float = PRECISION  # stop when failed / held <= 1 + precision
    min_requests: int = MIN_STEP_REQUESTS
    min_step_s: float = MIN_STEP_S
    max_step_s: float = MAX_STEP_S
    step_requests: int = STEP_REQUESTS
    edge_tests: int = TESTS_PER_EDGE
    max_edge_tests: int = MAX_TESTS_PER_EDGE  # while an edge is too close to call
    max_warmup_s: float = MAX_WARMUP_S
    max_steps: int = MAX_STEPS
    ceiling_rps: float | None = None  # the slot ceiling, when the caller knows it
    calibration_s: float = 0.0
    steps: int = 0
    stopped_because: str = ""
    lower_bound: bool = False
    generator_cpu_ms_per_request: float | None = None  # calibrated
    tests: dict[float, list[Judgement]] = field(default_factory=dict)  # by rate asked for
    verdicts: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.growth:
            self.growth = NEAR_GROWTH if self.ceiling_rps else GROWTH

    # -- one step -----------------------------------------------------------------------
    def plan(self, rate: float, calibration: bool = False) -> StepPlan:
        if calibration:
            return StepPlan(self.steps, rate, 0.0, self.calibration_s, self.calibration_s, True)
        ceiling = self.ceiling_rps or self._lowest_failed() or rate / RHO_UNKNOWN
        least = max(MIN_WARMUP_S, WARMUP_SLOS * self.slo_p99_ms / 1000.0)
        warmup = WARMUP_RELAXATIONS * relaxation_s(rate, max(ceiling, rate))
        warmup = min(max(warmup, least), max(self.max_warmup_s, least))
        min_s = max(self.min_step_s, self.min_requests / rate)
        # Long enough that a step with none over the SLO proves it within (and then some).
        enough = max(HOLD_MARGIN * requests_to_bound(ALLOWED_SHARE), self.step_requests) / rate
        least = least_hold_s(self.slo_p99_ms, self.precision, self.min_step_s)
        longest = max(min(enough, self.max_step_s), least)
        return StepPlan(self.steps, rate, warmup, min_s, max(min_s, longest))

    def judge(self, plan: StepPlan, trace: StepTrace, now_s: float | None = None) -> Judgement:
        """The step's verdict so far (``now_s``: seconds into it) or at its end (None)."""
        return judge(trace, self.slo_p99_ms, plan.warmup_s, now_s)

    def should_stop(self, plan: StepPlan, trace: StepTrace, now_s: float) -> bool:
        """Whether a running step may end at ``now_s``: it has its verdict, or its longest."""
        if now_s >= plan.longest_s:
            return True
        if now_s < plan.shortest_s or plan.calibration:
            return False
        return fails_clearly(trace, self.slo_p99_ms, plan.warmup_s, self.min_requests, now_s)

    def verdict(self, judgement: Judgement) -> str:
        """'held', or why the step failed."""
        if judgement.errors / max(1, judgement.scheduled) >= MAX_ERROR_RATIO:
            return "errors"
        if judgement.held:
            # A late generator only adds to the intended-start latency: a step that held
            # despite it held.
            return "held"
        if judgement.generator_limited:
            # The lag and the late share decide, whatever the latency from the send says.
            return "generator lag"
        if not judgement.stationary:
            return "not stationary"
        return "p99 over the SLO"

    def record(self, plan: StepPlan, j: Judgement) -> str:
        """The step's verdict, which the search goes on from."""
        self.steps += 1
        verdict = "calibration" if plan.calibration else self.verdict(j)
        self.verdicts.append(verdict)
        if plan.calibration:
            if j.generator_cpu_share > 0 and j.offered_rps > 0:
                per_request = j.generator_cpu_share / j.offered_rps
                self.generator_cpu_ms_per_request = round(per_request * 1000.0, 4)
        elif verdict == "generator lag":
            if self.verdicts.count(verdict) < GENERATOR_STRIKES:
                return verdict  # not counted; the same rate again, with fresh arrivals
            self.lower_bound = True
            self.stopped_because = (
                f"the generator could not keep its schedule at {j.offered_rps:.1f}/s "
                f"(lag p99 {j.lag_p99_ms:g} ms, {j.late_share:.1%} begun late, "
                f"{j.generator_cpu_share:.0%} of a core): lambda* is a lower bound"
            )
        else:
            self.tests.setdefault(plan.rate, []).append(j)
        return verdict

    # -- the search ---------------------------------------------------------------------
    def _majority(self, rate: float) -> bool:
        """A rate's verdict on all its tests pooled: most of them stationary and without
        errors, and the pooled share over the SLO within its bound."""
        tests = self.tests[rate]
        sound = [self.verdict(t) in ("held", "p99 over the SLO") for t in tests]
        if 2 * sum(sound) <= len(tests):
            return False
        return within_share(sum(t.over_slo for t in tests), sum(t.requests for t in tests))

    def _close(self, rate: float) -> bool:
        """Whether a rate's pooled share over the SLO is too close to the allowed one to tell."""
        tests = self.tests[rate]
        totals = (sum(getattr(t, n) for t in tests) for n in ("over_slo", "requests", "bursts"))
        _, low, high = _interval(*totals)
        return low <= ALLOWED_SHARE < high

    def _edges(self) -> tuple[float | None, float | None]:
        """The highest rate that held below the lowest that failed (majorities), and that one."""
        decided = {r: self._majority(r) for r in self.tests}
        failed = [r for r, v in decided.items() if not v]
        low_fail = min(failed) if failed else None
        held = [r for r, v in decided.items() if v and (low_fail is None or r < low_fail)]
        return (max(held) if held else None), low_fail

    @property
    def _calibrated(self) -> bool:
        return "calibration" in self.verdicts

    def _lowest_failed(self) -> float | None:
        return self._edges()[1] if self.tests else None

    def _realised(self, rate: float | None) -> float | None:
        if rate is None:
            return None
        return round(statistics.fmean(t.offered_rps for t in self.tests[rate]), 3)

    def _generator_rps(self) -> float | None:
        if not self.generator_cpu_ms_per_request:
            return None
        return GENERATOR_MAX_SHARE / (self.generator_cpu_ms_per_request / 1000.0)

    def next_step(self) -> StepPlan | None:
        """The next step, or None when the search is done (``stopped_because`` says why)."""
        rate = self._next_rate()
        if rate is None:
            return None
        if self.calibration_s > 0 and not self._calibrated:
            return self.plan(rate * CALIBRATION_SHARE, calibration=True)
        return self.plan(rate)

    def _next_rate(self) -> float | None:
        if self.stopped_because:
            return None
        if self.steps - self._calibrated >= self.max_steps:  # the calibration is extra
            self.stopped_because = f"{self.max_steps} steps (edges not all confirmed)"
            return None
        if not self.tests:
            return self.start_rps
        held, failed = self._edges()
        if failed is None:  # still going up
            if held >= self.max_rps:
                self.lower_bound = True
                self.stopped_because = f"held at the highest rate tried ({self.max_rps:g}/s)"
                return None
            rise = min(held * self.growth, self.max_rps)
            pace = self._generator_rps()
            if pace is not None and held < pace < rise:
                rise = pace  # land where the generator may run out, so its lag speaks there
            return rise
        if held is None:  # failed from the start: go down
            low = failed / self.growth
            if low < self.start_rps / self.growth**4:
                self.stopped_because = "no rate held"
                return None
            return low
        if failed / held > 1.0 + self.precision:
            return (held + failed) / 2.0
        for edge in (held, failed):  # confirm both edges with fresh arrivals
            tried = len(self.tests[edge])
            most = max(self.max_edge_tests, self.edge_tests)
            if tried < self.edge_tests or (tried < most and self._close(edge)):
                return edge
        self.stopped_because = (
            f"bracket within {self.precision:.0%}, both edges tested {self.edge_tests}+ times"
        )
        return None

    def result(self) -> dict:
        """λ*, its bracket and how the search ended: the ``search`` object of the out file."""
        held, failed = self._edges() if self.tests else (None, None)
        held_rps, failed_rps = self._realised(held), self._realised(failed)
        return {
            "lambda_star_rps": held_rps,
            "bracket": [held_rps, failed_rps],
            "stopped_because": self.stopped_because,
            "lower_bound": self.lower_bound,
            "steps": self.steps,
            # The same edges under their former names (the out file's keys before the seam).
            "held": held_rps,
            "failed": failed_rps,
            "slo_p99_ms": self.slo_p99_ms,
        }


def start_rate(arrival_rate: float, start_hint: float, ceiling_rps: float) -> float:
    """Where a search starts: the hint, else near the slot ceiling's knee, else the rate given."""
    if start_hint > 0:
        return start_hint
    if ceiling_rps > 0:
        return CEILING_START_SHARE * ceiling_rps
    return arrival_rate if arrival_rate > 0 else math.nan
