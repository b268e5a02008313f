"""The plugin's output read into the entry's records: its steps and search, the CPU of a step's
steady part, the idle server (made-up samples, no server)."""

from __future__ import annotations

import pytest

from loadtests.sweep.capacity_steps import idle_use, search_record, steady_cpu, step_record
from loadtests.sweep.sampler import Sample, TreeSampler

T0 = 1_800_000_000.0


def sampler_at(cores_by_second: list[float], interval: float = 0.25) -> TreeSampler:
    """A sampler whose server used ``cores_by_second[i]`` cores during second i."""
    sampler = TreeSampler({"server": 1})
    cpu, samples = 0.0, []
    for i in range(int(len(cores_by_second) / interval) + 1):
        now = T0 + i * interval
        samples.append(Sample(now, cpu, 0, 10 + i, 1))
        cpu += cores_by_second[min(int(i * interval), len(cores_by_second) - 1)] * interval
    sampler.samples["server"] = samples
    return sampler


STEP = {
    "seed": 4242,
    "target_rps": 100.0,
    "offered_rps": 104.2,
    "achieved_rps": 98.9,
    "duration_s": 2.0,
    "scheduled": 210,
    "sent": 210,
    "completed": 210,
    "errors": 0,
    "late": 0,
    "dropped": 0,
    "latency_ms": {"p50": 21.0, "p95": 25.0, "p99": 30.0},
    "send_latency_ms": {"p50": 20.5, "p99": 29.0},
    "generator_lag_p99_ms": 1.0,
    "generator_lag_too_high": False,
    "verdict": "held",
    "started_at": T0 + 2.0,
    "ended_at": T0 + 4.5,
    "error_samples": [],
}


def test_the_plugins_fields_are_kept_and_its_warm_up_left_out_of_the_cpu():
    new = STEP | {
        "stationary": True,
        "judgement": "p99 within the SLO and stationary",
        "p99_ci95": [27.0, None],
        "over_slo": 1,
        "generator_cpu_share": 0.4,
        "generator_limited": False,
        "warmup_s": 1.0,
        "something_newer": 1,
    }
    # 0.9 cores in the step's first second (its warm-up), 0.5 in its second.
    step = step_record(new, 2, sampler_at([0.01, 0.01, 0.9, 0.5, 0.5]))
    assert (step.seed, step.offered_rps, step.target_rps) == (4242, 104.2, 100.0)
    assert step.stationary is True
    assert step.p99_ci95 == [27.0, None]
    assert step.repeat == 2
    assert step.server_cpu.cores == pytest.approx(0.5, abs=1e-6)
    assert step.server_cpu.samples == 4


def test_steady_cpu_uses_only_readings_inside_the_span():
    sampler = sampler_at([1.0, 0.2, 0.2, 0.2, 1.0])
    cpu = steady_cpu(sampler.samples["server"], T0 + 1.0, T0 + 4.0)
    assert cpu.cores == pytest.approx(0.2, abs=1e-6)
    assert cpu.se == pytest.approx(0.0, abs=1e-9)
    assert steady_cpu(sampler.samples["server"], T0 + 1.01, T0 + 1.2) is None


def test_the_search_record_and_the_idle_baseline():
    new = search_record(
        {
            "search": {
                "lambda_star_rps": 206.0,
                "bracket": [206.0, None],
                "lower_bound": True,
                "stopped_because": "the generator was limited",
                "steps": 7,
            },
            "steps": [],
        },
        2,
        7,
    )
    assert new.lower_bound
    assert new.bracket == [206.0, None]
    assert (new.lambda_star_rps, new.steps, new.seed, new.repeat) == (206.0, 7, 7, 2)
    threads, cores = idle_use({"steps": [STEP]}, sampler_at([0.01, 0.01, 0.5, 0.5]))
    assert cores == pytest.approx(0.01, abs=1e-6)
    assert threads == 10


def test_a_version_3_run_reads_with_its_steps_realised_rates():
    from loadtests.analysis import results
    from tests.loadtests.conftest import ROOT

    record = results.load(ROOT / "docs/runs/20261201-131226/results.json")
    step = record.capacity[0].steps[0]
    assert step.target_rps == 100.0
    assert step.offered_rps == pytest.approx(95 / 0.996, abs=1e-3), "95 arrivals in 0.996 s"
    assert record.capacity[0].lambda_star_rps == 600.0, "the stored λ* is left as it was"


def test_the_lab_clusters_postmaster_is_found_from_the_servers_database_url(tmp_path):
    from urllib.parse import quote

    from loadtests.sweep.capacity import postmaster_pid

    (tmp_path / "data").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "data" / "postmaster.pid").write_text("4242\n/var/lib/data\n")
    url = f"postgresql://lab@/lab?host={quote(str(tmp_path / 'run'), safe='')}"
    assert postmaster_pid({"DATABASE_URL": url}) == 4242
    assert postmaster_pid({"DATABASE_URL": "postgresql://lab@db.example:5432/lab"}) is None
