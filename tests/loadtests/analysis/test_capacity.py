"""Which limit binds a λ*, and the CPU ceiling from the held steps (made-up steps)."""

from __future__ import annotations

import pytest

from loadtests.analysis.capacity import (
    CapacityStep,
    StepLatencyMs,
    binding_limit,
    bootstrap_ci95,
    cpu_ceiling,
    model_ceiling,
)
from loadtests.scenarios import SCENARIOS


def step(rate: float, cpu_s: float, verdict: str = "held", seconds: float = 2.0) -> CapacityStep:
    return CapacityStep(
        offered_rps=rate, achieved_rps=rate, duration_s=seconds, scheduled=int(rate * seconds),
        sent=int(rate * seconds), completed=int(rate * seconds), errors=0, late=0, dropped=0,
        latency_ms=StepLatencyMs(p99=10.0), generator_lag_p99_ms=1.0, verdict=verdict,
        server_cpu_s=cpu_s, started_at=100.0, ended_at=100.0 + seconds,
    )  # fmt: skip


def test_the_cpu_ceiling_leaves_out_the_fixed_cpu_use():
    # 0.1 s of CPU per second whatever the load, plus 1 ms per request: (1 - 0.1) / 0.001.
    steps = [step(r, (0.1 + 0.001 * r) * 2.0) for r in (100.0, 200.0, 400.0)]
    steps.append(step(1000.0, 2.0, verdict="p99 over the SLO"))  # saturated: left out
    rps, ms = cpu_ceiling(steps, cores=1)
    assert rps == pytest.approx(900.0)
    assert ms == pytest.approx(1.0)


def test_one_held_step_counts_the_fixed_part_per_request():
    rps, ms = cpu_ceiling([step(100.0, 0.4)], cores=1)  # 2 ms per request
    assert (rps, ms) == (pytest.approx(500.0), pytest.approx(2.0))


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


def test_bootstrap_ci_holds_the_mean_and_needs_two_repeats():
    assert bootstrap_ci95([100.0]) is None
    low, high = bootstrap_ci95([90.0, 100.0, 110.0])
    assert 90.0 <= low <= 100.0 <= high <= 110.0
