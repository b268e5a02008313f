"""The capacity search on live servers: gthread lands on its M/D/c answer; async goes past it.

Pinned as the sweep pins (the server on one CPU, Locust on the other). gthread's two fresh
searches draw fresh arrivals, and its λ* is their mean with an interval, M/D/c beside it. A
short service time buys each step its samples (a hold needs hundreds of requests: at 25 req/s
a step runs its 30 s cap): the tests' fast path. Each gthread search takes two steps: the
first where M/D/4 puts λ* with the view's overhead as measured before (``OVERHEAD_S``: 138
req/s; 152.5 at the wait alone), then one step of ``NEAR`` up or down from there, each edge
tested once: its held edge is 138 or 115 req/s with its failed edge 20% above, and the bound on
λ* below allows 20% under M/D/c and 15% over. (Bisecting on and re-testing each edge too close
to call took 6-9 steps of 2-6 s per search, for λ* of 145 and 151 req/s in the last run.) The
async view only has to clear gthread's λ* by half: its first step, at 400 req/s, does when it
holds; a second, at 800, shows how far past it goes.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from loadtests.analysis.queueing import mdc_lambda_star
from loadtests.sweep.capacity import measure
from loadtests.sweep.capacity_plan import CapacityPlan
from loadtests.sweep.cell import Context
from loadtests.sweep.generator import Generator
from loadtests.sweep.main import pinning

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.quiet]

THREADS, DELAY = 4, 0.02
SLOT_CEILING = THREADS / DELAY  # 200 requests/s
OVERHEAD_S = 0.0015  # the view's own time beside its wait, measured: 1.5-2 ms
NEAR = 1.2  # between gthread's steps: the bracket's width
# The tests' fast path: the first bracket (a held step and one NEAR above it that failed) ends
# the search, each edge tested once, no calibration step.
QUICK = {
    "delay": DELAY,
    "min_requests": 100,
    "step_requests": 300,
    "growth": NEAR,
    "precision": NEAR - 1 + 0.05,
    "max_steps": 3,
    "edge_tests": 1,
    "max_edge_tests": 1,
    "calibrate_s": 0.0,
}
# Past gthread's λ* by half: a step that holds at 400 req/s says so; one more, doubled.
PAST_IT = QUICK | {"growth": 2.0, "precision": 0.5, "max_steps": 2}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    generator_cpus, server_cpus, _ = pinning(True)
    run_dir = tmp_path_factory.mktemp("capacity")
    context = Context(
        run_dir=run_dir,
        generator=Generator(cpus=generator_cpus, env={"LOCUST_EXPORTER_PORT": "0"}),
        server_cpus=server_cpus,
    )
    yield context
    context.settle()


@pytest.fixture(scope="module")
def gthread_entry(ctx):
    plan = CapacityPlan("gunicorn-gthread", 1, THREADS, "sync-api", repeats=2, **QUICK)
    first = mdc_lambda_star(THREADS, DELAY + OVERHEAD_S, plan.slo_p99_ms)
    return measure(replace(plan, first_rps=round(first, 1)), ctx)


def test_gthread_lands_on_its_m_d_c_answer(gthread_entry):
    entry = gthread_entry
    steps = [(s.repeat, s.target_rps, s.verdict, s.latency_ms.p99) for s in entry.steps]
    assert entry.error is None, entry.error
    assert entry.lambda_star_rps is not None, (entry.stopped_because, steps)
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
    # Where M/D/c puts it (Poisson arrivals queue before the slots are all busy), within what
    # two fresh searches on a busy two-core machine resolve.
    assert DELAY <= entry.theory.service_s < DELAY + 0.01  # the view's wait + its overhead
    truth = mdc_lambda_star(THREADS, entry.theory.service_s, entry.slo_p99_ms)
    assert entry.theory.rps == pytest.approx(truth, rel=0.01)
    assert 0.8 * truth <= entry.lambda_star_rps <= 1.15 * truth, steps
    assert failed is not None
    assert failed <= 1.5 * SLOT_CEILING  # the first failing rate is just above the ceiling
    assert entry.limit.binds == "slots"
    assert entry.limit.model_rps == SLOT_CEILING
    assert "slot-bound: 1 worker(s) x 4 threads / 0.02 s = 200 req/s" in entry.limit.sentence
    assert entry.limit.cpu_rps > 3 * SLOT_CEILING  # measured in the same run, not binding
    for step in entry.steps:
        assert step.duration_s >= min(1.0, 100 / step.target_rps) * 0.9
        assert step.scheduled >= 0.6 * 100 or step.duration_s >= 0.9
    # A step judged over the SLO was: its p99 from the intended start is past the SLO.
    over = [s for s in entry.steps if s.verdict == "p99 over the SLO"]
    assert over, "the search found a rate that failed on its tail"
    assert all(s.latency_ms.p99 > entry.slo_p99_ms for s in over)


def test_async_on_uvicorn_goes_well_past_it_and_is_cpu_bound(ctx, gthread_entry):
    plan = CapacityPlan("uvicorn", 1, THREADS, "async-api", **PAST_IT)
    entry = measure(plan, ctx)
    assert entry.error is None
    assert entry.limit.model_rps is None  # no slots: only the CPU limits an async view
    assert entry.limit.binds == "cpu"
    # A lower bound when the generator is what stopped it: that still has to clear the bar.
    assert entry.lambda_star_rps >= 1.5 * gthread_entry.lambda_star_rps
    assert entry.limit.sentence.startswith(("CPU-bound at", "generator-limited"))
