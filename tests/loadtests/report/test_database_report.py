"""The report's database section, rendered from a synthetic results.json's capacity entries."""

from __future__ import annotations

import json

import msgspec

from loadtests import report
from loadtests.analysis.capacity import (
    CapacityEntry,
    CapacityLimit,
    CapacityStep,
    binding_limit,
    model_ceiling,
    model_kind,
)
from loadtests.model.latency import LatencyMs
from loadtests.scenarios import DB_SCENARIOS, NATIVE_ASGI_ONLY


def _step(rate: float, p50: float, threads: int, verdict: str = "held") -> CapacityStep:
    return CapacityStep(
        offered_rps=rate,
        achieved_rps=rate,
        duration_s=2.0,
        scheduled=int(2 * rate),
        sent=int(2 * rate),
        completed=int(2 * rate),
        errors=0,
        late=0,
        dropped=0,
        latency_ms=LatencyMs(p50=p50, p95=p50 * 1.5, p99=p50 * 2),
        send_latency_ms=LatencyMs(p50=p50),
        generator_lag_p99_ms=1.0,
        verdict=verdict,
        server_cpu_s=0.1,
        server_threads=threads,
    )


def _entry(
    scenario: str,
    pool: int,
    held: float,
    top_threads: int,
    ci: list[float] | None = None,
    server: str = "uvicorn",
) -> CapacityEntry:
    spec = DB_SCENARIOS[scenario]
    model = model_ceiling(spec, server, 1, 8, 0.1, 5, 100, pool)
    kind = model_kind(spec, server, 1, 8, 5, 100, pool)
    return CapacityEntry(
        server=server,
        workers=1,
        threads=8,
        scenario=scenario,
        delay_s=0.1,
        slo_p99_ms=220.0,
        lambda_star_rps=held,
        lambda_star_bracket=[held, held * 1.2],
        limit=binding_limit(held, model, (500.0, 2.0), model_binds=kind),
        steps=[
            _step(held / 2, 100.0, 9),
            _step(held, 100.0, top_threads),
            _step(held * 1.2, 900.0, top_threads, "p99 over the SLO"),
        ],
        min_step_requests=100,
        db_pool_size=pool,
        idle_threads=4,
        lambda_star_ci95=ci,
        repeats_lambda_star_rps=[held, held, held] if ci else [],
    )


def test_pool_ceiling_arithmetic():
    sync = DB_SCENARIOS["sync-db"]
    # ASGI: workers x pool; the threads do not limit (the pool binds).
    assert model_ceiling(sync, "uvicorn", 2, 8, 0.1, 5, 100, 10) == (
        200.0,
        "2 worker(s) x 10 pooled database connections / 0.1 s = 200 req/s",
    )
    assert model_kind(sync, "uvicorn", 2, 8, 5, 100, 10) == "pool"
    # WSGI: min(threads, pool) per worker.
    assert model_ceiling(sync, "gunicorn-gthread", 2, 8, 0.1, 5, 100, 5)[0] == 100.0
    assert model_kind(sync, "gunicorn-gthread", 2, 8, 5, 100, 5) == "pool"
    assert model_ceiling(sync, "gunicorn-gthread", 2, 4, 0.1, 5, 100, 10)[0] == 80.0
    assert model_kind(sync, "gunicorn-gthread", 2, 4, 5, 100, 10) == "slots"
    limit = binding_limit(
        190.0,
        model_ceiling(sync, "uvicorn", 2, 8, 0.1, 5, 100, 10),
        (800.0, 1.25),
        model_binds="pool",
    )
    assert limit.binds == "pool"
    assert limit.sentence.startswith(
        "pool-bound: 2 worker(s) x 10 pooled database connections / 0.1 s = 200 req/s;"
        " λ* reached 95% of it"
    )
    # The CPU binds when it is lower than the pool's ceiling.
    cpu = binding_limit(
        90.0,
        model_ceiling(sync, "uvicorn", 2, 8, 0.1, 5, 100, 10),
        (100.0, 10.0),
        model_binds="pool",
    )
    assert cpu.binds == "cpu"


def test_the_database_section_compares_the_paths(stored_run):
    path = stored_run / "results.json"
    data = json.loads(path.read_text())
    entries = [
        # Repeats (the full profile): CIs; sync and async overlap, native is clear of both.
        _entry("sync-db", 5, 48.0, 9, ci=[46.0, 50.0]),
        _entry("async-db", 5, 47.0, 9, ci=[45.0, 49.0]),
        _entry("async-db-native", 5, 30.0, 5, ci=[28.0, 32.0]),
        # One search each (the default profile): no CI.
        _entry("sync-db", 10, 95.0, 14),
        _entry("async-db", 10, 92.0, 14),
        _entry("async-db-native", 10, 90.0, 14),
    ]
    skipped = CapacityEntry(
        server="gunicorn-gthread",
        workers=1,
        threads=8,
        scenario="async-db-native",
        delay_s=0.1,
        slo_p99_ms=220.0,
        lambda_star_rps=None,
        lambda_star_bracket=[None, None],
        limit=CapacityLimit(
            binds=None,
            model_rps=50.0,
            model="",
            cpu_rps=None,
            cpu_ms_per_request=None,
            share=None,
            sentence=f"not applicable: {NATIVE_ASGI_ONLY}",
        ),
        steps=[],
        db_pool_size=5,
        skipped=NATIVE_ASGI_ONLY,
    )
    data["capacity"] = [msgspec.to_builtins(e) for e in [*entries, skipped]]
    path.write_text(json.dumps(data))
    summary, page = report.render(stored_run)
    text = summary.read_text()
    assert "## Database: sync ORM, async ORM and the native async backend" in text
    assert (
        "sync-db under uvicorn x1, pool 10: λ* 95 req/s; pool-bound: 1 worker(s) x 10 pooled "
        "database connections / 0.1 s = 100 req/s; λ* reached 95% of it" in text
    )
    assert (
        "Under uvicorn x1, pool 5: sync-db 48 against async-db 47 req/s (1.02x): not "
        "significant (CI95 [46, 50] and [45, 49], widened by their brackets of 9.6 and 9.4 "
        "req/s, overlap)." in text
    )
    assert "async-db 47 against async-db-native 30 req/s (1.57x): async-db is higher" in text
    assert "[28, 32], widened by their brackets of 9.4 and 6.0 req/s, do not overlap" in text
    assert (
        "Under uvicorn x1, pool 10: sync-db 95 against async-db 92 req/s (1.03x): one search "
        "each, no CI, so no difference can be claimed (brackets [held, failed] [95.0, 114.0] "
        "and [92.0, 110.4]; fresh repeats, as --profile full runs, give the interval)." in text
    )
    assert (
        "Server CPU per request under uvicorn x1, pool 10 (from the held steps): sync-db "
        "2.00 ms, async-db 2.00 ms, async-db-native 2.00 ms." in text
    )
    assert "every path reached 90% to 95% of its pool ceiling" in text
    # Threads: 14 at 95 req/s x 100 ms = 9.5 in flight, idle 4: +10, 1.05 per request.
    assert "the server held 14 threads, +10 against idle (4), 1.05 per request in flight." in text
    assert "async-db-native under gunicorn-gthread x1, 8 threads, pool 5: not mapped, " in text
    assert NATIVE_ASGI_ONLY in text
    assert (
        "| sync-db | uvicorn x1, pool 5 | 48.0 | [46, 50] | 100 / 200 | 50 | 500 | pool |" in text
    )
    html = page.read_text()
    assert "Database: sync ORM, async ORM and the native async backend" in html
    assert "not significant" in html


def test_no_database_section_without_database_entries(stored_run):
    summary, _ = report.render(stored_run)
    assert "## Database" not in summary.read_text()
