"""A step's arrivals: a seed of its own from the base seed and the step, and its realised rate."""

from __future__ import annotations

import math

import numpy as np
import pytest

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
