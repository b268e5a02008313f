"""A step's trace: its arrivals (a seed of its own from the base seed and the step, the rate
asked for), and its summary, whose percentiles over traces merged from several Locust processes
are those of all their requests."""

from __future__ import annotations

import math
import random

import msgspec
import numpy as np
import pytest

from loadtests.model.latency import Latency
from loadtests.plugins.trace import StepTrace, arrival_schedule, step_seed


def test_every_step_of_every_search_gets_a_seed_of_its_own():
    seeds = {step_seed(base, index) for base in range(1, 41) for index in range(40)}
    assert len(seeds) == 40 * 40
    assert step_seed(7, 3) == step_seed(7, 3)  # recorded, so reproducible
    assert step_seed(7, 3, 1) != step_seed(7, 3, 2) != step_seed(7, 3)  # each Locust process
    # The former base x 1000 + index collided across searches; a mixer does not.
    assert step_seed(1, 1000) != step_seed(2, 0)
    assert step_seed(-5, 0) != step_seed(5, 0)


def test_arrivals_differ_between_seeds_and_keep_the_rate_asked_for():
    rate, seconds = 64.0, 12.5
    one = arrival_schedule(rate, seconds, np.random.default_rng(step_seed(1, 0)))
    two = arrival_schedule(rate, seconds, np.random.default_rng(step_seed(1, 1)))
    assert len(one) == len(two) == round(rate * seconds)
    assert not np.allclose(one, two)
    assert np.all(np.diff(one) >= 0)
    assert one[0] >= 0
    assert one[-1] < seconds


def test_the_arrivals_are_as_bursty_as_poisson_arrivals():
    """Uniform instants given their count are a Poisson process's: exponential gaps (CV 1) and
    counts per second with variance equal to their mean."""
    arrivals = arrival_schedule(200.0, 100.0, np.random.default_rng(3))
    gaps = np.diff(arrivals)
    assert np.std(gaps) / np.mean(gaps) == pytest.approx(1.0, abs=0.05)
    per_second = np.bincount(arrivals.astype(int))
    assert np.var(per_second) / np.mean(per_second) == pytest.approx(1.0, abs=0.35)


def test_the_realised_offered_rate_is_arrivals_over_the_paced_seconds():
    trace = StepTrace(paced_s=2.0)
    for at in (0.1, 0.5, 1.5):
        trace.arrive(at)
    assert trace.offered_rps == pytest.approx(1.5)
    assert StepTrace().offered_rps == 0.0


def test_a_trace_travels_as_a_message_and_merges():
    first, second = StepTrace(paced_s=3.0, generator_cpu_share=0.2, seed=11), StepTrace(paced_s=2.5)
    index = first.arrive(0.5)
    first.began[index] = first.sent[index] = 0.501
    first.done[index] = 0.62
    second.arrive(0.25)  # never answered: NaN survives the trip as None
    second.failed[0] = True
    second.generator_cpu_share = 0.6
    back = StepTrace.from_message(second.to_message())
    assert math.isnan(back.done[0])
    assert list(back.failed) == [True]
    first.merge(back)
    arrays = first.arrays()
    assert arrays["intended"].tolist() == [0.25, 0.5]  # sorted by scheduled instant
    assert arrays["failed"].tolist() == [True, False]
    assert first.paced_s == 3.0
    assert first.generator_cpu_share == 0.6


def _worker(rng: random.Random, count: int, scale_ms: float) -> tuple[StepTrace, list[float]]:
    """``count`` requests due 1 ms apart, each sent after a lag under 1 ms and answered an
    exponential time after it was due (the values: those times, in ms)."""
    trace, values = StepTrace(paced_s=2.0), []
    for i in range(count):
        due = trace.intended[trace.arrive(i / 1000.0)]
        trace.began[i] = trace.sent[i] = due + rng.random() / 1000.0
        trace.done[i] = due + rng.expovariate(1.0 / scale_ms) / 1000.0
        values.append((trace.done[i] - due) * 1000.0)
    return trace, values


def _as_the_master_gets_it(trace: StepTrace) -> StepTrace:
    message = msgspec.msgpack.decode(msgspec.msgpack.encode(trace.to_message()))
    return StepTrace.from_message(message)


def test_two_workers_merge_to_the_percentiles_of_all_their_requests():
    rng = random.Random(7)
    # Two very different workers: the merged p99 is neither one's p99 nor their mean.
    fast, fast_values = _worker(rng, 5000, 5.0)
    slow, slow_values = _worker(rng, 1000, 300.0)
    merged = StepTrace()
    for part in (fast, slow):
        merged.merge(_as_the_master_gets_it(part))
    together = Latency.of(fast_values + slow_values)
    summary = merged.summary()
    for q in (0.50, 0.95, 0.99):
        assert getattr(summary["latency_ms"], f"p{round(q * 100)}") == together.quantile(q)
    exact_p99 = sorted(fast_values + slow_values)[int(0.99 * 6000) - 1]
    assert abs(summary["latency_ms"].p99 - exact_p99) <= exact_p99 * 1e-3  # 3 digits
    mean_of_p99s = (fast.summary()["latency_ms"].p99 + slow.summary()["latency_ms"].p99) / 2
    assert abs(summary["latency_ms"].p99 - mean_of_p99s) > 50
    # From the send, the generator's lag (under 1 ms here) is not counted.
    assert summary["send_latency_ms"].p50 < summary["latency_ms"].p50
    assert summary["completed"] == summary["sent"] == summary["scheduled"] == 6000
    assert summary["generator_lag_p99_ms"] < 1.0
    assert summary["offered_rps"] == 3000.0


def test_counts_and_errors_add_up_and_dropped_requests_count_as_errors():
    a, b = StepTrace(paced_s=1.0, started_at=5.0), StepTrace(paced_s=1.0, started_at=4.0)
    for trace in (a, b):
        index = trace.arrive(0.1)
        trace.began[index], trace.sent[index], trace.done[index] = 0.1, 0.1, 0.2
    a.fail(0, "status 500")
    for _ in range(2):
        a.arrive(0.3)  # dropped: never began
        a.failed[-1] = True
    late = b.arrive(0.4)
    b.began[late], b.sent[late], b.done[late] = 0.4, 0.6, 0.7  # sent 200 ms after its instant
    a.merge(_as_the_master_gets_it(b))
    summary = a.summary()
    assert (summary["completed"], summary["errors"], summary["late"]) == (3, 3, 1)
    assert (summary["dropped"], summary["scheduled"], summary["sent"]) == (2, 5, 3)
    assert summary["error_samples"] == ["status 500"]
    assert summary["started_at"] == 4.0
    # Answered without failure before the schedule's end, per second from the first answer.
    assert summary["achieved_rps"] == pytest.approx(2 / 0.8, abs=1e-3)
