"""The capacity section of summary.md and report.html, from a results.json's capacity list."""

from __future__ import annotations

import json

import msgspec

from loadtests import report
from loadtests.analysis.capacity import (
    CapacityEntry,
    CapacityStep,
    StepLatencyMs,
    binding_limit,
    model_ceiling,
)
from loadtests.scenarios import SCENARIOS


def _step(rate: float, p99: float, verdict: str) -> CapacityStep:
    return CapacityStep(
        offered_rps=rate, achieved_rps=rate, duration_s=2.0, scheduled=int(2 * rate),
        sent=int(2 * rate), completed=int(2 * rate), errors=0, late=0, dropped=0,
        latency_ms=StepLatencyMs(p50=p99 / 2, p95=p99 * 0.9, p99=p99, send_p99=p99),
        generator_lag_p99_ms=1.0, verdict=verdict, server_cpu_s=0.1,
    )  # fmt: skip


def _entry(server: str, workers: int, scenario: str, held: float, failed: float,
           variant: str = "", cpu_ms: float = 1.1) -> CapacityEntry:  # fmt: skip
    model = model_ceiling(SCENARIOS[scenario], server, workers, 8, 0.1, 5, 100)
    return CapacityEntry(
        server=server, workers=workers, threads=8, scenario=scenario, delay_s=0.1,
        slo_p99_ms=220.0, lambda_star_rps=held, lambda_star_bracket=[held, failed],
        limit=binding_limit(held, model, (1000.0 / cpu_ms, cpu_ms)), variant=variant,
        steps=[_step(held / 2, 110.0, "held"), _step(held, 150.0, "held"),
               _step(failed, 900.0, "p99 over the SLO")],
        min_step_requests=100,
    )  # fmt: skip


def test_the_capacity_section_explains_every_lambda_star(stored_run):
    path = stored_run / "results.json"
    data = json.loads(path.read_text())
    entries = [
        _entry("gunicorn-gthread", 1, "sync-api", 70.0, 80.0),
        _entry("gunicorn-gthread", 2, "sync-api", 140.0, 160.0),
        _entry("uvicorn", 1, "sync-api", 600.0, 700.0),
        _entry("uvicorn", 1, "async-api", 750.0, 800.0, cpu_ms=1000 / 900),
        _entry("uvicorn", 1, "async-api", 800.0, 850.0, variant="off", cpu_ms=0.8),
        _entry("uvicorn", 1, "async-api", 600.0, 650.0, variant="django-prometheus", cpu_ms=1.2),
    ]
    _, page = report.render(stored_run)
    figures_before = page.read_text().count("<svg")
    data["capacity"] = [msgspec.to_builtins(e) for e in entries]
    path.write_text(json.dumps(data))
    summary, page = report.render(stored_run)
    text = summary.read_text()
    assert "## Capacity" in text
    assert "| sync-api | gunicorn-gthread x1, 8 threads | 70.0 | [70.0, 80.0] |" in text
    assert "slot-bound: 1 worker(s) x 8 threads / 0.1 s = 80 req/s; λ* reached 88% of it" in text
    assert "CPU-bound at 83% of the CPU ceiling" in text  # 750 / 900
    assert "λ* of 2 workers 140 against 1 70 req/s (2.00x): one search each, no CI" in text
    assert "which do not overlap" in text  # [140, ...] against [70, ...]
    assert "λ* of the async view against the sync view: async-api" in text
    assert (
        "django-prometheus costs 25% of the capacity with metrics off (600 against 800 req/s)"
        "; its server CPU per request is 1.20 ms against 0.80 ms" in text
    )
    assert "each step lasts max(1 s, 100 requests / rate)" in text
    html = page.read_text()
    assert html.count("<svg") == figures_before + 2  # latency against load; λ* against workers
    assert "SLO 220 ms" in html
