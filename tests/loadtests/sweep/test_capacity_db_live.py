"""The capacity phase on the database paths, live: the lab's PostgreSQL started once for the
phase, each path pool-bound at DB_POOL_SIZE / delay, the server's threads recorded per step, and
the native path under gunicorn gthread skipped with its reason (never measured as a failure).

A small pool and a short wait (2 connections, delay 0.02 s: 100 req/s) keep the searches short
(a step that holds runs to its judged requests: at 50 req/s, 300 take 6 s) and below the CPU's
ceiling on a busy machine; each edge is tested once, with no calibration: the tests' fast path.
Pinned as the sweep pins.
"""

from __future__ import annotations

import shutil
import time
from types import SimpleNamespace

import pytest

from loadtests.analysis.queueing import mdc_lambda_star
from loadtests.scenarios import NATIVE_ASGI_ONLY
from loadtests.sweep.capacity import run_phase
from loadtests.sweep.capacity_plan import CapacityPlan
from loadtests.sweep.cell import Context
from loadtests.sweep.generator import Generator
from loadtests.sweep.main import pinning
from mysite.db import cluster as pg
from tests.db.conftest import new_cluster_root

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.quiet]

POOL, DELAY = 2, 0.02
POOL_CEILING = POOL / DELAY  # 100 requests/s per worker
QUICK = {
    "delay": DELAY,
    "min_requests": 100,
    "step_requests": 300,
    "precision": 0.1,
    "max_steps": 12,
    "edge_tests": 1,
    "calibrate_s": 0.0,
    "db_pool": POOL,
}
PATHS = ("sync-db", "async-db", "async-db-native")


@pytest.fixture(scope="module")
def phase(tmp_path_factory):
    """One capacity phase: the three paths under uvicorn x1, and native under gthread."""
    run_dir, root = tmp_path_factory.mktemp("dbcap"), new_cluster_root()
    generator_cpus, server_cpus, _ = pinning(True)
    ctx = Context(
        run_dir=run_dir,
        generator=Generator(cpus=generator_cpus, env={"LOCUST_EXPORTER_PORT": "0"}),
        server_cpus=server_cpus,
    )
    plans = [CapacityPlan("uvicorn", 1, 8, path, **QUICK) for path in PATHS]
    plans.append(CapacityPlan("gunicorn-gthread", 1, 8, "async-db-native", **QUICK))
    record = SimpleNamespace(capacity=[], cells=[], meta=SimpleNamespace(notes=[]))
    notes: list[str] = []
    began = time.monotonic()
    try:
        code = run_phase(
            "smoke", ctx, record, lambda: None, notes.append, 300.0, db_root=root, plans=plans
        )
        ctx.settle()
        left_running = pg.is_running(pg.Cluster(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    entries = {(e.server, e.scenario): e for e in record.capacity}
    return SimpleNamespace(
        code=code,
        entries=entries,
        notes=notes,
        left_running=left_running,
        seconds=time.monotonic() - began,
    )


def test_each_path_is_pool_bound_at_pool_over_delay(phase):
    assert phase.code == 0, phase.notes
    for path in PATHS:
        entry = phase.entries[("uvicorn", path)]
        assert entry.error is None, entry.error
        assert entry.db_pool_size == POOL
        assert entry.limit.binds == "pool", entry.limit.sentence
        assert entry.limit.model_rps == POOL_CEILING
        assert (
            "pool-bound: 1 worker(s) x 2 pooled database connections / 0.02 s = 100 req/s"
            in entry.limit.sentence
        )
        # Where M/D/c puts it: Poisson arrivals queue before every connection is busy.
        assert entry.theory.model == "M/D/c"
        assert entry.theory.servers == POOL
        truth = mdc_lambda_star(POOL, entry.theory.service_s, entry.slo_p99_ms)
        assert 0.75 * truth <= entry.lambda_star_rps <= 1.2 * truth, path
        failed = entry.lambda_star_bracket[1]
        assert failed is not None, path
        assert failed <= 1.5 * POOL_CEILING, path
        assert entry.limit.cpu_rps > POOL_CEILING, path  # the CPU does not bind
        # The server's threads were sampled: before the load and in every step.
        assert entry.idle_threads is not None
        assert entry.idle_threads >= 1
        assert all(s.server_threads and s.server_threads >= 1 for s in entry.steps)
        # PostgreSQL's CPU is counted beside the server's.
        assert any(s.database_cpu is not None for s in entry.steps), path
        assert entry.limit.database_cpu_ms_per_request is not None, path
        assert "PostgreSQL used" in entry.limit.sentence


def test_native_under_gthread_is_skipped_with_its_reason(phase):
    entry = phase.entries[("gunicorn-gthread", "async-db-native")]
    assert entry.skipped == NATIVE_ASGI_ONLY
    assert entry.error is None
    assert entry.lambda_star_rps is None
    assert not entry.steps
    assert entry.limit.sentence.startswith("not applicable: django-async-backend is ASGI only")


def test_the_phase_stops_its_postgresql(phase):
    assert not phase.left_running
