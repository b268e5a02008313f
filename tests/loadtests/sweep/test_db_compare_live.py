"""The database paths in the sweep, live against a PostgreSQL of the test's own: a closed-loop
cell on a database path (PostgreSQL started on first use, the pool in the cell's model), and the
paired comparison (the three paths on one uvicorn worker, alternating windows), then nothing
left running. Short windows and few users keep it within a minute. Quiet: it judges each 1 s
window's rate against Little's law and its parked threads, which a machine busy with the other
tests starved once (one window at 32 req/s against 80, its ORM threads idle).
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import time
from types import SimpleNamespace

import pytest

from loadtests.sweep import cell as cells
from loadtests.sweep import cli
from loadtests.sweep.cell import Context
from loadtests.sweep.db_compare import ComparePlan, run_phase
from loadtests.sweep.generator import Generator
from loadtests.sweep.main import pinning
from loadtests.sweep.plan import from_args
from loadtests.sweep.postgres import Postgres
from mysite.db import cluster as pg
from tests.db.conftest import new_cluster_root

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.quiet]

POOL, USERS = 4, 8
PLAN = ComparePlan(
    users=USERS, db_pool_size=2 * USERS, rounds=3, window_s=1.0, settle_s=0.25, warm=0.5
)
PHASE_LIMIT_S = 120.0


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    run_dir, root = tmp_path_factory.mktemp("dbsweep"), new_cluster_root()
    generator_cpus, server_cpus, _ = pinning(True)
    argv = [
        "--cell",
        "uvicorn:1:async-db",
        "--db-pool-sizes",
        str(POOL),
        "--users",
        str(USERS),
        "--repeats",
        "1",
        "--windows-per-run",
        "1",
    ]
    [cell_plan] = from_args(cli.parse_args(argv))[1]
    record = SimpleNamespace(db_comparison=None)
    notes: list[str] = []
    try:
        with contextlib.ExitStack() as stack:
            ctx = Context(
                run_dir=run_dir,
                generator=Generator(cpus=generator_cpus, env={"LOCUST_EXPORTER_PORT": "0"}),
                server_cpus=server_cpus,
                database=Postgres(stack, root),
            )
            run = cells.measure_run(cell_plan, ctx, 0, lambda: None)
            cell = cells.cell_of(cell_plan, ctx, [run], time.time())
            began = time.monotonic()
            code = run_phase("default", ctx, record, lambda: None, notes.append, PLAN)
            seconds = time.monotonic() - began
            ctx.settle()
            running_inside = pg.is_running(pg.Cluster(root))
        left_running = pg.is_running(pg.Cluster(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return SimpleNamespace(
        cell=cell,
        plan=cell_plan,
        code=code,
        compared=record.db_comparison,
        notes=notes,
        seconds=seconds,
        running_inside=running_inside,
        left_running=left_running,
    )


def test_a_closed_loop_cell_runs_a_database_path_bound_by_its_pool(sweep):
    cell = sweep.cell
    assert cell.error is None
    assert cell.failures == 0
    assert cell.db_pool_size == POOL
    ceiling = POOL / sweep.plan.delay  # 1 worker x 4 connections / 0.2 s = 20 req/s < 8 / 0.2
    assert cell.model_rps == ceiling
    assert "pooled database connections" in cell.model
    assert 0.7 * ceiling <= cell.rps <= 1.05 * ceiling


def test_the_comparison_measures_every_path_in_every_round(sweep):
    c = sweep.compared
    assert sweep.code == 0, (sweep.notes, c.error if c else None)
    assert c.error is None
    assert sorted((w.round, w.path) for w in c.windows) == sorted(
        (r, p) for r in range(1, PLAN.rounds + 1) for p in PLAN.paths
    )
    little = USERS / PLAN.delay_s
    for w in c.windows:
        assert w.failures == 0, w.errors
        assert 0.5 * little <= w.rps <= 1.05 * little, w
        assert PLAN.delay_s * 1000 <= w.p50_ms <= w.p99_ms, w
        assert w.server_cpu_ms_per_request is not None
        assert w.server_cpu_ms_per_request > 0
        assert w.io_threads is not None
    # Each pair of paths on each metric, paired over the three rounds.
    assert len(c.contrasts) == 3 * 5
    assert all(x.pairs == PLAN.rounds for x in c.contrasts)
    assert sweep.seconds < PHASE_LIMIT_S


def test_the_orm_paths_park_a_thread_per_query_the_native_path_none(sweep):
    """The sync and async ORM run each query in a thread, which waits on the database socket;
    the native backend awaits it on the event loop. Nearly every user is in a query at any
    time (the query's delay is most of a request), hence at least half of them over the rounds
    (the median: one 1 s window on a loaded machine once sampled 2.7 of 8, its users not yet all
    in a query), and more than the native path's bound in every round."""
    by = {(w.round, w.path): w.io_threads for w in sweep.compared.windows}
    rounds = range(1, PLAN.rounds + 1)
    for path in ("async-db", "sync-db"):
        assert statistics.median(by[(r, path)] for r in rounds) >= USERS / 2, by
        assert all(by[(r, path)] > 1 for r in rounds), by
    assert all(by[(r, "async-db-native")] <= 1 for r in rounds), by
    key = ("async-db-native", "async-db", "io_threads")
    native = next(x for x in sweep.compared.contrasts if (x.a, x.b, x.metric) == key)
    assert native.significant
    assert native.high < 0


def test_postgresql_runs_while_needed_and_stops_with_the_sweep(sweep):
    assert sweep.running_inside
    assert not sweep.left_running
