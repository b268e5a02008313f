"""The capacity search on live servers: gthread finds its slot ceiling; async goes far past it.

Pinned as the sweep pins (the server on one CPU, Locust on the other). gthread's two fresh
searches draw fresh arrivals, and its λ* is their mean with an interval, M/D/c beside it.
"""

from __future__ import annotations

import pytest

from loadtests.sweep.capacity import measure
from loadtests.sweep.capacity_plan import CapacityPlan
from loadtests.sweep.cell import Context
from loadtests.sweep.generator import Generator
from loadtests.sweep.main import pinning

pytestmark = [pytest.mark.live, pytest.mark.slow]

THREADS, DELAY = 4, 0.1
SLOT_CEILING = THREADS / DELAY  # 40 requests/s
QUICK = {"delay": DELAY, "min_requests": 100, "precision": 0.1, "max_steps": 8}


@pytest.fixture
def ctx(tmp_path):
    generator_cpus, server_cpus, _ = pinning(True)
    context = Context(run_dir=tmp_path, generator=Generator(cpus=generator_cpus,
                      env={"LOCUST_EXPORTER_PORT": "0"}), server_cpus=server_cpus)  # fmt: skip
    yield context
    context.settle()


@pytest.fixture
def gthread_entry(ctx):
    plan = CapacityPlan("gunicorn-gthread", 1, THREADS, "sync-api", repeats=2, **QUICK)
    return measure(plan, ctx)


def test_gthread_finds_lambda_star_at_or_just_under_threads_over_delay(gthread_entry):
    entry = gthread_entry
    assert entry.error is None
    assert entry.repeats == len(entry.searches) == 2
    first, second = entry.searches
    assert first.seed != second.seed, "fresh arrivals per repeat"
    assert entry.lambda_star_rps == pytest.approx(
        (first.lambda_star_rps + second.lambda_star_rps) / 2, abs=0.01
    )
    assert entry.lambda_star_ci95 is not None
    assert {s.repeat for s in entry.steps} == {1, 2}
    held, failed = entry.lambda_star_bracket
    assert entry.lambda_star_rps == held, "λ* is the mean of the held edges"
    assert not entry.measurement_error
    assert entry.theory.model == "M/D/c"
    assert entry.theory.servers == THREADS
    assert entry.idle_cores is not None
    assert entry.idle_cores < 0.2
    # At or just under T / d: Poisson arrivals queue before the slots are all busy.
    assert 0.6 * SLOT_CEILING <= entry.lambda_star_rps <= 1.05 * SLOT_CEILING
    assert failed is not None
    assert failed <= 1.5 * SLOT_CEILING  # the first failing rate is just above the ceiling
    assert entry.limit.binds == "slots"
    assert entry.limit.model_rps == SLOT_CEILING
    assert "slot-bound: 1 worker(s) x 4 threads / 0.1 s = 40 req/s" in entry.limit.sentence
    assert entry.limit.cpu_rps > 3 * SLOT_CEILING  # measured in the same run, not binding
    for step in entry.steps:
        assert step.duration_s >= min(1.0, 100 / step.target_rps) * 0.9
        assert step.scheduled >= 0.6 * 100 or step.duration_s >= 0.9
    failing = [s for s in entry.steps if s.target_rps == first.bracket[1] and s.repeat == 1]
    assert failing[0].latency_ms.p99 > entry.slo_p99_ms


def test_async_on_uvicorn_goes_several_times_higher_and_is_cpu_bound(ctx, gthread_entry):
    plan = CapacityPlan("uvicorn", 1, THREADS, "async-api", **QUICK)
    entry = measure(plan, ctx)
    assert entry.error is None
    assert entry.limit.model_rps is None  # no slots: only the CPU limits an async view
    assert entry.limit.binds == "cpu"
    assert entry.lambda_star_rps >= 3 * gthread_entry.lambda_star_rps
    assert entry.limit.sentence.startswith(("CPU-bound at", "generator-limited"))
