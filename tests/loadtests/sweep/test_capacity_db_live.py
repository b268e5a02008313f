"""The database paths held to their pool, live: every path's throughput is its pool / delay in a
closed loop, and the capacity phase on one path lands where M/D/c puts a pool-bound server, with
the server's threads recorded per step, PostgreSQL's CPU beside the server's, the native path
under gunicorn gthread skipped with its reason (never measured as a failure), and the lab's
PostgreSQL started once for the phase and stopped with it.

The closed loop (8 users on a pool of 2, a 0.2 s wait: 10 req/s) is bound by the pool so far below
what a busy machine's CPU serves that it runs beside the other tests; the async ORM path's own
closed loop is in test_db_compare_live. The capacity search judges latency against a model, so it
runs quiet, on the async ORM path alone: a small pool and a short wait (2 connections, 0.02 s:
100 req/s), with no calibration (the tests' fast path). A connection is held for the query, not
for the whole request: M/D/2's λ* lies between the lab's theory (service = the wait + the
request's whole overhead) and M/D/2 at the wait alone, and λ* is bounded by those two (measured
quiet: λ* 41-54 req/s against 34-43 and 58). The search starts between the two (48 req/s)
and steps by 1.25 either way: the first bracket ends it, each edge tested once, so its held
edge is 48 or 39 req/s (60 when the knee lies past 60) with its failed edge 25% above, as the
bound's 25% below the lab's theory allows. A held step there takes about 10 s (enough requests
to show a 1% share): two steps, where bisecting to 15% and re-testing each edge too close to
call took eight (58 s); starting at the upper theory (58), a machine busy with other work
failed both first steps. Pinned as the sweep pins.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest

from loadtests.analysis.queueing import mdc_lambda_star
from loadtests.scenarios import NATIVE_ASGI_ONLY
from loadtests.sweep import cell as cells
from loadtests.sweep import cli
from loadtests.sweep.capacity import run_phase
from loadtests.sweep.capacity_plan import CapacityPlan
from loadtests.sweep.cell import Context
from loadtests.sweep.generator import Generator
from loadtests.sweep.main import pinning
from loadtests.sweep.plan import from_args
from mysite.db import cluster as pg
from tests.db.conftest import db_env, new_cluster_root

pytestmark = [pytest.mark.live, pytest.mark.slow]

POOL, DELAY = 2, 0.02
POOL_CEILING = POOL / DELAY  # 100 requests/s per worker
QUICK = {
    "delay": DELAY,
    "min_requests": 100,
    "step_requests": 300,
    "growth": 1.25,
    "precision": 0.3,  # the first bracket, 1.25 wide, ends the search
    "max_steps": 4,  # room for a step the generator could not pace (tried again) and a third
    "edge_tests": 1,
    "max_edge_tests": 1,
    "calibrate_s": 0.0,
    "db_pool": POOL,
}
SEARCHED = "async-db"
OVERHEAD_S = 0.004  # the request's own time beside its query, measured: 4-8 ms


def first_rps(slo_ms: float) -> float:
    """Between the two theories that bound λ* (their geometric mean): M/D/2 at the wait with
    the request's overhead, and at the wait alone."""
    whole, query = (mdc_lambda_star(POOL, s, slo_ms) for s in (DELAY + OVERHEAD_S, DELAY))
    return round((whole * query) ** 0.5, 1)


CLOSED_LOOP_PATHS, USERS = ("sync-db", "async-db-native"), 8


def context(run_dir, **extra) -> Context:
    generator_cpus, server_cpus, _ = pinning(True)
    return Context(
        run_dir=run_dir,
        generator=Generator(cpus=generator_cpus, env={"LOCUST_EXPORTER_PORT": "0"}),
        server_cpus=server_cpus,
        **extra,
    )


@pytest.fixture(scope="module")
def closed_loop(tmp_path_factory, postgres):
    """A closed-loop cell of each path on uvicorn x1, more users than pooled connections."""
    argv = ["--db-pool-sizes", str(POOL), "--users", str(USERS), "--repeats", "1"]
    argv += ["--windows-per-run", "1"]
    for path in CLOSED_LOOP_PATHS:
        argv += ["--cell", f"uvicorn:1:{path}"]
    ctx = context(tmp_path_factory.mktemp("dbcells"), database=lambda: db_env(postgres))
    measured = {}
    for plan in from_args(cli.parse_args(argv))[1]:
        run = cells.measure_run(plan, ctx, 0, lambda: None)
        measured[plan.scenario] = (plan, cells.cell_of(plan, ctx, [run], time.time()))
    ctx.settle()
    return measured


@pytest.fixture(scope="module")
def phase(tmp_path_factory):
    """One capacity phase: the searched path under uvicorn x1, and native under gthread."""
    ctx, root = context(tmp_path_factory.mktemp("dbcap")), new_cluster_root()
    searched = CapacityPlan("uvicorn", 1, 8, SEARCHED, **QUICK)
    plans = [
        replace(searched, first_rps=first_rps(searched.slo_p99_ms)),
        CapacityPlan("gunicorn-gthread", 1, 8, "async-db-native", **QUICK),
    ]
    record = SimpleNamespace(capacity=[], cells=[], meta=SimpleNamespace(notes=[]))
    notes: list[str] = []
    try:
        code = run_phase(
            "smoke", ctx, record, lambda: None, notes.append, 300.0, db_root=root, plans=plans
        )
        ctx.settle()
        left_running = pg.is_running(pg.Cluster(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    entries = {(e.server, e.scenario): e for e in record.capacity}
    return SimpleNamespace(code=code, entries=entries, notes=notes, left_running=left_running)


@pytest.mark.parametrize("path", CLOSED_LOOP_PATHS)
def test_each_path_serves_its_pool_over_its_delay_in_a_closed_loop(closed_loop, path):
    plan, cell = closed_loop[path]
    assert cell.error is None
    assert cell.failures == 0
    assert cell.db_pool_size == POOL
    ceiling = POOL / plan.delay  # 1 worker x 2 connections / 0.2 s = 10 req/s < 8 users / 0.2 s
    assert cell.model_rps == ceiling
    assert "pooled database connections" in cell.model
    # No more than the pool's share: an unbounded pool would serve the 8 users at 40 req/s.
    assert 0.7 * ceiling <= cell.rps <= 1.05 * ceiling


@pytest.mark.quiet
def test_the_searched_path_is_pool_bound_at_pool_over_delay(phase):
    assert phase.code == 0, phase.notes
    entry = phase.entries[("uvicorn", SEARCHED)]
    assert entry.error is None, entry.error
    assert entry.db_pool_size == POOL
    assert entry.limit.binds == "pool", entry.limit.sentence
    assert entry.limit.model_rps == POOL_CEILING
    assert (
        "pool-bound: 1 worker(s) x 2 pooled database connections / 0.02 s = 100 req/s"
        in entry.limit.sentence
    )
    steps = [(s.target_rps, s.verdict, s.latency_ms.p99) for s in entry.steps]
    assert entry.lambda_star_rps is not None, (entry.stopped_because, steps)
    # Where M/D/c puts it: Poisson arrivals queue before every connection is busy.
    assert entry.theory.model == "M/D/c"
    assert entry.theory.servers == POOL
    whole_request = mdc_lambda_star(POOL, entry.theory.service_s, entry.slo_p99_ms)
    query_only = mdc_lambda_star(POOL, DELAY, entry.slo_p99_ms)
    assert entry.steps[0].target_rps == first_rps(entry.slo_p99_ms), "started where theory said"
    assert 0.75 * whole_request <= entry.lambda_star_rps <= 1.2 * query_only, steps
    failed = entry.lambda_star_bracket[1]
    assert failed is not None
    assert failed <= 1.5 * POOL_CEILING
    assert entry.limit.cpu_rps > POOL_CEILING  # the CPU does not bind
    # The server's threads were sampled: before the load and in every step.
    assert entry.idle_threads is not None
    assert entry.idle_threads >= 1
    assert all(s.server_threads and s.server_threads >= 1 for s in entry.steps)
    # PostgreSQL's CPU is counted beside the server's.
    assert any(s.database_cpu is not None for s in entry.steps)
    assert entry.limit.database_cpu_ms_per_request is not None
    assert "PostgreSQL used" in entry.limit.sentence


@pytest.mark.quiet
def test_native_under_gthread_is_skipped_with_its_reason(phase):
    entry = phase.entries[("gunicorn-gthread", "async-db-native")]
    assert entry.skipped == NATIVE_ASGI_ONLY
    assert entry.error is None
    assert entry.lambda_star_rps is None
    assert not entry.steps
    assert entry.limit.sentence.startswith("not applicable: django-async-backend is ASGI only")


@pytest.mark.quiet
def test_the_phase_stops_its_postgresql(phase):
    assert not phase.left_running
