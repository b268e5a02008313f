"""Which limit binds a λ*, the CPU ceiling near the knee, λ* over fresh searches, the theory
beside it and the measurement errors (made-up steps and searches)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from loadtests.analysis.capacity import (
    CapacityEntry,
    CapacitySearch,
    CapacityStep,
    StepCpu,
    binding_limit,
    cpu_ceiling,
    model_ceiling,
)
from loadtests.analysis.lambda_star import combine, measurement_error, saturation_rps, theory
from loadtests.analysis.queueing import mdc_lambda_star
from loadtests.model.latency import LatencyMs
from loadtests.scenarios import SCENARIOS


def step(
    rate: float,
    cores: float,
    verdict: str = "held",
    se: float | None = None,
    samples: int = 8,
    send_p50: float = 101.0,
) -> CapacityStep:
    return CapacityStep(
        offered_rps=rate,
        achieved_rps=rate,
        duration_s=2.0,
        scheduled=int(rate * 2),
        sent=int(rate * 2),
        completed=int(rate * 2),
        errors=0,
        late=0,
        dropped=0,
        latency_ms=LatencyMs(p99=10.0),
        send_latency_ms=LatencyMs(p50=send_p50),
        generator_lag_p99_ms=1.0,
        verdict=verdict,
        server_cpu=StepCpu(cores=cores, se=se, samples=samples, span_s=2.0),
    )


def test_the_cpu_ceiling_comes_from_the_steps_near_the_knee_less_the_idle_server():
    # CPU per request falls as the rate rises (2.5 ms at 100/s, 1.5 ms near the knee): a line
    # through every step would be the wrong model; the idle server uses 0.01 of a core.
    idle = 0.01
    steps = [
        step(100.0, idle + 0.25),
        step(500.0, idle + 0.8),
        step(560.0, idle + 0.84),
        step(600.0, idle + 0.9),
        step(700.0, 1.0, verdict="p99 over the SLO"),
    ]
    ceiling = cpu_ceiling(steps, cores=1, idle_cores=idle)
    # Near the knee (>= 70% of 600/s): 1.6, 1.5 and 1.5 ms per request; (1 - 0.01) / 1.5333 ms.
    assert ceiling.ms_per_request == pytest.approx(1.5333, abs=1e-3)
    assert ceiling.rps == pytest.approx(0.99 / 0.0015333, rel=1e-3)
    low, high = ceiling.rps_ci95
    assert low < ceiling.rps < high  # Student's t over the three steps


def test_one_step_near_the_knee_takes_its_interval_from_its_sampling_intervals():
    ceiling = cpu_ceiling([step(400.0, 0.8, se=0.02, samples=9)], cores=1)  # 2 ms per request
    assert ceiling.rps == pytest.approx(500.0)
    low, high = ceiling.rps_ci95
    assert low < 500.0 < high
    assert cpu_ceiling([step(400.0, 0.8, se=None, samples=1)], cores=1).rps_ci95 is None


def test_slot_bound_and_cpu_bound_sentences_come_from_the_values():
    model = model_ceiling(SCENARIOS["sync-api"], "gunicorn-gthread", 1, 8, 0.2, 5, 100)
    assert model == (40.0, "1 worker(s) x 8 threads / 0.2 s = 40 req/s")
    slots = binding_limit(36.0, model, (1000.0, 1.0))
    assert slots.binds == "slots"
    assert slots.share == 0.9
    assert slots.sentence.startswith("slot-bound: 1 worker(s) x 8 threads / 0.2 s = 40 req/s")
    free = model_ceiling(SCENARIOS["async-api"], "uvicorn", 1, 8, 0.2, 5, 100)
    assert free[0] is None
    cpu = binding_limit(910.0, free, (1000.0, 1.0))
    assert cpu.binds == "cpu"
    assert cpu.sentence.startswith("CPU-bound at 91% of the CPU ceiling")
    lower = binding_limit(200.0, free, (1000.0, 1.0), generator_limited=True)
    assert lower.sentence.startswith("generator-limited: λ* is a lower bound")


def search(repeat: int, held: float | None, failed: float | None) -> CapacitySearch:
    return CapacitySearch(
        repeat=repeat, seed=repeat, lambda_star_rps=held, bracket=[held, failed], steps=6
    )


def test_lambda_star_its_bracket_and_interval_come_from_the_same_searches():
    one = combine([search(1, 62.0, 65.0)])
    assert one == (62.0, [62.0, 65.0], None), "one search: its own λ* and bracket, no interval"
    lam, bracket, ci = combine(
        [search(1, 60.0, 63.0), search(2, 62.0, 65.0), search(3, 64.0, 67.0)]
    )
    assert lam == 62.0, "the mean of the searches' λ*"
    assert bracket == [62.0, 65.0], "the means of their edges: λ* is its held edge"
    # Student's t: sd 2, n 3, 4.303 x 2 / sqrt(3) = 4.97.
    assert ci == [pytest.approx(57.0, abs=0.05), pytest.approx(67.0, abs=0.05)]
    assert combine([search(1, 60.0, 63.0), search(2, None, 30.0)])[0] is None


def entry(lam: float, ci=None, cpu_ci=None, binds_model=True, steps=()) -> CapacityEntry:
    scenario, server = ("sync-api", "gunicorn-gthread") if binds_model else ("async-api", "uvicorn")
    model = model_ceiling(SCENARIOS[scenario], server, 1, 8, 0.1, 5, 100)
    cpu = (1000.0, 1.0) if binds_model else (900.0, 1.1)
    limit = binding_limit(lam, model, cpu)
    if cpu_ci:
        limit.cpu_rps_ci95 = cpu_ci
    return CapacityEntry(
        server=server,
        workers=1,
        threads=8,
        scenario=scenario,
        delay_s=0.1,
        slo_p99_ms=220.0,
        lambda_star_rps=lam,
        lambda_star_bracket=[lam, lam * 1.05],
        lambda_star_ci95=ci,
        limit=limit,
        steps=list(steps),
    )


def test_a_lambda_star_above_the_cpu_ceilings_interval_is_a_measurement_error():
    assert measurement_error(entry(1200.0, binds_model=False, cpu_ci=[850.0, 960.0]))
    assert "above the CPU ceiling's 95% interval" in measurement_error(
        entry(1200.0, binds_model=False, cpu_ci=[850.0, 960.0])
    )
    assert measurement_error(entry(940.0, binds_model=False, cpu_ci=[850.0, 960.0])) == ""
    said = measurement_error(entry(1100.0, binds_model=False), saturation=985.0)
    assert "above the 985 req/s the same server reached saturated" in said


def test_theory_beside_a_slot_bound_lambda_star_and_its_verdict():
    # The lowest held step's median from the send is 101 ms: 1 ms of overhead on 0.1 s.
    steps = [step(40.0, 0.1, send_p50=101.0), step(64.0, 0.2, send_p50=104.0)]
    expected = mdc_lambda_star(8, 0.101, 220.0)
    close = theory(entry(62.0, ci=[58.0, 66.0], steps=steps), slots=8, service_s=0.1)
    assert close.model == "M/D/c"
    assert close.rps == pytest.approx(expected, abs=0.05)
    assert close.overhead_ms == pytest.approx(1.0)
    assert close.agrees is True
    assert "M/D/8 with service 100 ms + 1.0 ms measured overhead" in close.sentence
    far = theory(entry(78.0, ci=[76.0, 80.0], steps=steps), slots=8, service_s=0.1)
    assert far.agrees is False
    assert "outside the measured interval" in far.sentence
    cpu = theory(entry(800.0, binds_model=False, cpu_ci=[850.0, 960.0]), slots=None, service_s=0.1)
    assert cpu.model == "cpu"
    assert cpu.agrees is True


def test_a_step_that_fell_behind_counts_its_cpu_per_answered_request():
    # 1,200 arrivals/s, but the saturated server answered 985/s on its one core: the ceiling is
    # what it answered, so the λ* of 1,200 its search claimed is beyond it.
    behind = step(1200.0, 1.0)
    behind.achieved_rps = 985.0
    ceiling = cpu_ceiling([behind], cores=1)
    assert ceiling.rps == pytest.approx(985.0)


def test_only_a_saturated_cell_with_an_interval_bounds_lambda_star():
    config = {"server": "uvicorn", "workers": 1, "threads": 8, "scenario": "async-api"}
    searched = SimpleNamespace(**config)

    def cell(rps, ci, efficiency=0.5, **other):
        fields = config | {"rps": rps, "rps_ci95": ci, "error": None, "efficiency": efficiency}
        fresh = {"repeats": 3, "restart_per_repeat": True}
        return SimpleNamespace(**fields | fresh | other)

    assert saturation_rps(searched, [cell(900.0, [850.0, 960.0])]) == 960.0
    # One start's windows leave out the machine's drift between it and the search.
    assert saturation_rps(searched, [cell(900.0, None)]) is None
    assert saturation_rps(searched, [cell(900.0, [850.0, 960.0], repeats=1)]) is None
    windows = cell(900.0, [850.0, 960.0], restart_per_repeat=False)
    assert saturation_rps(searched, [windows]) is None
    # Users that bound the cell say nothing of the server's saturation.
    assert saturation_rps(searched, [cell(900.0, [850.0, 960.0], efficiency=0.99)]) is None
    assert saturation_rps(searched, [cell(900.0, [850.0, 960.0], workers=2)]) is None
