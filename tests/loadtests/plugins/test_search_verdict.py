"""A step's verdict on its steady part: warm-up, stationarity, the SLO as a test, the generator."""

from __future__ import annotations

import numpy as np
import pytest

from loadtests.analysis.thresholds import LAG_LIMIT_MS
from loadtests.plugins.search import ALLOWED_SHARE, Search, fails_clearly, judge, relaxation_s
from loadtests.plugins.trace import StepTrace
from tests.loadtests.plugins.queue_sim import SlotServer, step_trace

SLO_MS = 220.0
GTHREAD_1X8 = SlotServer(8)  # ceiling 80/s; steady-state answer 64.8/s under a p99 of 220 ms


def steady_judgement(rate: float, seconds: float = 30.0, seed: int = 1):
    warmup = 2 * relaxation_s(rate, GTHREAD_1X8.ceiling_rps)
    return judge(step_trace(GTHREAD_1X8, rate, seconds, seed), SLO_MS, warmup)


def test_well_under_the_knee_a_step_is_stationary_and_holds():
    j = steady_judgement(0.8 * 64.8)
    assert j.stationary
    assert j.held
    assert j.over_slo <= ALLOWED_SHARE * j.requests
    assert j.requests > 1000
    assert j.warmup_s > 0
    low, high = j.p99_ci95
    assert low <= j.latency.p99 <= high
    assert "not growing" in j.text
    assert "keep up" in j.text


def test_over_the_ceiling_the_queue_grows_and_the_step_fails_as_not_stationary():
    j = judge(step_trace(GTHREAD_1X8, 1.15 * 80, 20.0, 2), SLO_MS, 1.0)
    assert not j.stationary
    assert not j.held
    assert "growing" in j.text
    assert "fall behind" in j.text


def test_a_perfect_queue_at_full_load_no_longer_passes_a_step():
    """The finding: from an empty queue, a short step at utilisation 1 passed 55% of the time.
    With a warm-up and a step long enough, it (nearly) never does."""
    search = Search(slo_p99_ms=SLO_MS, start_rps=80.0, max_rps=1e4, ceiling_rps=80.0)
    plan = search.plan(80.0)
    held = [
        judge(step_trace(GTHREAD_1X8, 80.0, plan.longest_s, seed), SLO_MS, plan.warmup_s).held
        for seed in range(40)
    ]
    assert sum(held) <= 1


def test_a_tail_worse_in_the_second_half_is_not_stationary():
    trace = step_trace(SlotServer(16), 60.0, 20.0, 3)  # far from its knee: nothing over
    done = np.asarray(trace.done)
    slow = np.asarray(trace.intended) > 15.0
    done[slow] += 0.5  # the last quarter's requests all wait half a second more
    trace.done = done
    j = judge(trace, SLO_MS, 1.0)
    assert not j.stationary
    assert not j.held
    assert "worse beyond noise" in j.text


def test_a_running_step_fails_early_only_when_clearly_over_and_with_enough_requests():
    over = step_trace(GTHREAD_1X8, 1.3 * 80, 10.0, 4)  # far over: most requests past the SLO
    assert fails_clearly(over, SLO_MS, 0.5, 300, now_s=10.0)
    assert not fails_clearly(over, SLO_MS, 0.5, 5000, now_s=10.0)  # too few judged yet
    under = step_trace(GTHREAD_1X8, 40.0, 10.0, 4)
    assert not fails_clearly(under, SLO_MS, 0.5, 300, now_s=10.0)


def test_requests_still_in_flight_past_the_slo_count_as_over_it():
    trace = StepTrace(paced_s=4.0)
    for at in np.linspace(0.0, 3.0, 400):
        trace.arrive(float(at))
    trace.done = [at + 0.1 for at in trace.intended[:396]] + [float("nan")] * 4
    j = judge(trace, SLO_MS, 0.0, now_s=4.0)
    assert j.over_slo == 4
    assert j.requests == 400


def generator_trace(lag_s: float, late_every: int) -> StepTrace:
    """A step whose every ``late_every``-th request began ``lag_s`` late, the server fast."""
    trace = StepTrace(paced_s=10.0, generator_cpu_share=0.97)
    for i, at in enumerate(np.linspace(0.0, 10.0, 1000)):
        index = trace.arrive(float(at))
        began = at + (lag_s if i % late_every == 0 else 0.001)
        trace.began[index] = trace.sent[index] = began
        trace.done[index] = began + 0.1
    return trace


def test_schedule_lag_and_the_late_share_decide_generator_limited():
    late = judge(generator_trace(0.150, 20), SLO_MS, 1.0)  # 5% begun 150 ms late
    assert late.generator_limited
    assert late.late_share == pytest.approx(0.05, abs=0.005)
    assert late.lag_p99_ms > LAG_LIMIT_MS
    # The latency from the send knows nothing of it: the server answered in 100 ms.
    assert late.send_latency.p99 == pytest.approx(100.0, abs=1.0)
    assert late.generator_cpu_share == pytest.approx(0.97)
    punctual = judge(generator_trace(0.005, 20), SLO_MS, 1.0)
    assert not punctual.generator_limited
