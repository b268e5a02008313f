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
   times (``TESTS_PER_EDGE``), up to ``MAX_TESTS_PER_EDGE`` while its pooled share over the SLO
   is too close to 1% to tell (its 95% interval holds 1%); a rate's verdict is on its tests
   pooled (most of them stationary and without errors, and at most 1% of all their requests
   over the SLO), so one unlucky step cannot fix λ*; a re-test that turns an edge over sends
   the search back to bisecting.

Each step is judged on its steady part (``loadtests.plugins.steady``): a warm-up of
``WARMUP_RELAXATIONS`` relaxation times of the queue at that load is discarded (for a queue
with ceiling C at utilisation u = λ/C, a relaxation time is about 2u / (C (1 - u)²), the
diffusion approximation of a queue with Poisson arrivals and fixed service; C is the slot
ceiling when the caller gives it, else the lowest rate that failed, else λ / ``RHO_UNKNOWN``).
It may end (failed) once ``min_requests`` requests and ``min_step_s`` seconds are judged and the
share over the SLO is clearly above 1%; otherwise it runs to ``step_requests`` requests (and
the ``HOLD_MARGIN`` x the requests that, none over, would prove the share within 1%), at least
``LONGEST_LEAST_S`` and at most ``max_step_s`` seconds: a queue near its knee goes seconds
between excursions over the SLO, so a hold needs the whole length. A step fails when
``MAX_ERROR_RATIO`` of its requests or more failed or were dropped. A step the generator could
not pace (its schedule lag or late share) never counts against the server: it is run again
once, and at the ``GENERATOR_STRIKES``-th such step the search stops there and λ* is a lower
bound.

Tuned on simulated queues (``tests/loadtests/plugins/queue_sim.py``): M/D/5, M/D/8, M/D/10 and
a CPU-bound single server, where pooling each edge's tests and holding on their point estimate
lands 93-100% of searches within 7% of the steady-state answer; a per-step upper bound instead
skews λ* low, a single step's point estimate high (over-SLO requests come in rare bursts).

λ*, its bracket and its steps come from this one search; the bracket's rates are the realised
offered rates (arrivals / seconds) of the edges' tests, averaged.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from loadtests.analysis.stats import requests_to_bound, wilson_interval

from .steady import ALLOWED_SHARE, Judgement, fails_clearly, judge, within_share
from .trace import StepTrace

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
LONGEST_LEAST_S = 5.0  # judged seconds a step runs to, at least: a queue over its ceiling
# by a few percent takes seconds to build up past the SLO
MAX_STEPS = 28
# Generator-limited steps before the search stops (the first may be the machine's passing load:
# the rate is tried again with fresh arrivals; none counts against the server).
GENERATOR_STRIKES = 2
TESTS_PER_EDGE = 3  # each edge's tests, at least
MAX_TESTS_PER_EDGE = 6  # and at most, while its pooled verdict is close
STEP_REQUESTS = 800  # judged requests a step runs to (unless it fails clearly first)
HOLD_MARGIN = 1.25  # x the requests that can prove a step within the SLO


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
        f"not judged, and runs to max({LONGEST_LEAST_S:g} s, {step_requests} requests / rate) "
        f"(at most {max_step_s:g} s) to hold; each edge of the bracket is tested "
        f"{TESTS_PER_EDGE} to {MAX_TESTS_PER_EDGE} times with fresh arrivals, pooled"
    )


def relaxation_s(rate: float, ceiling_rps: float) -> float:
    """The queue's relaxation time at ``rate`` under a ceiling of ``ceiling_rps``."""
    rho = min(rate / ceiling_rps, RHO_CAP)
    return 2.0 * rho / (ceiling_rps * (1.0 - rho) ** 2)


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


@dataclass(frozen=True)
class StepOutcome:
    """A finished step as the search sees it."""

    offered_rps: float  # realised: arrivals / seconds
    scheduled: int
    errors: int  # failed, unanswered or dropped
    judgement: Judgement


@dataclass(frozen=True)
class RateTest:
    """One step at a rate, as the rate's pooled verdict needs it."""

    offered_rps: float
    requests: int
    over: int
    bursts: int
    sound: bool  # stationary and without errors


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
    max_warmup_s: float = MAX_WARMUP_S
    max_steps: int = MAX_STEPS
    ceiling_rps: float | None = None  # the slot ceiling, when the caller knows it
    calibration_s: float = 0.0
    steps: int = 0
    stopped_because: str = ""
    lower_bound: bool = False
    generator_cpu_ms_per_request: float | None = None  # calibrated
    tests: dict[float, list[RateTest]] = field(default_factory=dict)
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
        longest = max(min(enough, self.max_step_s), LONGEST_LEAST_S)
        return StepPlan(self.steps, rate, warmup, min_s, max(min_s, longest))

    def judge(self, plan: StepPlan, trace: StepTrace, now_s: float | None = None) -> Judgement:
        """The step's verdict so far (``now_s``: seconds into it) or at its end (None)."""
        least = 1 if plan.calibration else self.min_requests
        return judge(trace, self.slo_p99_ms, plan.warmup_s, least, now_s)

    def should_stop(self, plan: StepPlan, trace: StepTrace, now_s: float) -> bool:
        """Whether a running step may end at ``now_s``: it has its verdict, or its longest."""
        if now_s >= plan.longest_s:
            return True
        if now_s < plan.shortest_s or plan.calibration:
            return False
        return fails_clearly(trace, self.slo_p99_ms, plan.warmup_s, self.min_requests, now_s)

    def verdict(self, outcome: StepOutcome) -> str:
        """'held', or why the step failed."""
        if outcome.errors / max(1, outcome.scheduled) >= MAX_ERROR_RATIO:
            return "errors"
        judgement = outcome.judgement
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

    def record(self, plan: StepPlan, outcome: StepOutcome) -> str:
        self.steps += 1
        j = outcome.judgement
        verdict = "calibration" if plan.calibration else self.verdict(outcome)
        self.verdicts.append(verdict)
        if plan.calibration:
            if j.generator_cpu_share > 0 and outcome.offered_rps > 0:
                per_request = j.generator_cpu_share / outcome.offered_rps
                self.generator_cpu_ms_per_request = round(per_request * 1000.0, 4)
        elif verdict == "generator lag":
            if self.verdicts.count(verdict) < GENERATOR_STRIKES:
                return verdict  # not counted; the same rate again, with fresh arrivals
            self.lower_bound = True
            self.stopped_because = (
                f"the generator could not keep its schedule at {outcome.offered_rps:.1f}/s "
                f"(lag p99 {j.lag_p99_ms:g} ms, {j.late_share:.1%} begun late, "
                f"{j.generator_cpu_share:.0%} of a core): lambda* is a lower bound"
            )
        else:
            sound = verdict in ("held", "p99 over the SLO")  # stationary, without errors
            test = RateTest(outcome.offered_rps, j.requests, j.over_slo, j.bursts, sound)
            self.tests.setdefault(plan.rate, []).append(test)
        return verdict

    # -- the search ---------------------------------------------------------------------
    def _majority(self, rate: float) -> bool:
        """A rate's verdict on all its tests pooled: most of them stationary and without
        errors, and the pooled share over the SLO within its bound."""
        tests = self.tests[rate]
        if 2 * sum(t.sound for t in tests) <= len(tests):
            return False
        return within_share(sum(t.over for t in tests), sum(t.requests for t in tests))

    def _close(self, rate: float) -> bool:
        """Whether a rate's pooled share over the SLO is too close to the allowed one to tell."""
        tests = self.tests[rate]
        over, requests, bursts = (
            sum(getattr(t, n) for t in tests) for n in ("over", "requests", "bursts")
        )
        effect = over / bursts if bursts else 1.0
        low, high = wilson_interval(over / effect, requests / effect)
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
            most = max(MAX_TESTS_PER_EDGE, self.edge_tests)
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
