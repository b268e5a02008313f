"""The async prediction: its bounds on made-up costs, and its check on the lab's stored runs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from loadtests.__main__ import STORED_RUNS, stored_checks
from loadtests.analysis import prediction
from loadtests.analysis.prediction import (
    ASYNC,
    ASYNC_BLOCKING,
    CPU,
    LOOPS,
    POOL_BOUND,
    SYNC,
    THREADS,
    RouteCost,
)
from loadtests.analysis.results import load
from loadtests.scenarios import SCENARIOS
from mysite.servers import SERVER_KINDS

ROOT = Path(__file__).resolve().parents[3]
COST = RouteCost(service_s=0.1, cpu_s=0.002)  # 100 ms, 2 ms of it on the CPU


def as_written_and_if_async(cost, view, workers, threads, cores):
    """Each kind's ceilings of ``view`` and of the same route's async view, side by side."""
    return [
        tuple(prediction.predict(cost, kind, workers, threads, cores, v) for v in (view, ASYNC))
        for kind in SERVER_KINDS
    ]


def test_a_thread_per_request_server_is_bound_by_its_threads_sync_or_async():
    for view in (SYNC, ASYNC):
        p = prediction.predict(COST, "gunicorn-gthread", 2, 8, cores=2, view=view)
        assert (p.rps, p.binds) == (pytest.approx(160), THREADS)
    assert COST.waiting_s == pytest.approx(0.098)


def test_under_asgi_only_the_cpu_binds_a_sync_view_as_an_async_one():
    for view in (SYNC, ASYNC):
        p = prediction.predict(COST, "uvicorn", 2, 8, cores=2, view=view)
        assert (p.rps, p.binds) == (pytest.approx(1000), CPU)


def test_an_async_view_that_blocks_is_bound_by_its_workers_loops_and_gains_from_async():
    p = prediction.predict(COST, "granian", 2, 8, cores=2, view=ASYNC_BLOCKING)
    assert (p.rps, p.binds) == (pytest.approx(20), LOOPS)
    pairs = as_written_and_if_async(COST, ASYNC_BLOCKING, workers=2, threads=8, cores=2)
    gains = {as_is.server: if_async.rps / as_is.rps for as_is, if_async in pairs}
    assert gains["uvicorn"] == pytest.approx(50)
    assert gains["gunicorn-gthread"] == pytest.approx(1.0)


def test_the_cpu_binds_a_wsgi_server_when_it_is_lower_and_a_pool_when_lower_still():
    heavy = RouteCost(service_s=0.1, cpu_s=0.05)
    assert prediction.predict(heavy, "granian-wsgi", 2, 8, cores=1, view=SYNC).binds == CPU
    pooled = RouteCost(service_s=0.1, cpu_s=0.002, pool=3)
    p = prediction.predict(pooled, "granian", 2, 8, cores=2, view=ASYNC)
    assert (p.rps, p.binds) == (pytest.approx(60), POOL_BOUND)


def test_every_kind_gets_a_prediction_as_written_and_if_async():
    pairs = as_written_and_if_async(COST, SYNC, workers=1, threads=8, cores=1)
    as_written = {as_is.server: as_is.rps for as_is, _ in pairs}
    assert as_written["gunicorn-gthread"] == as_written["granian-wsgi"] == pytest.approx(80)
    assert as_written["uvicorn"] == as_written["granian"] == pytest.approx(500)
    # Rewriting the view changes no kind's bound: what async buys is the ASGI kind it allows.
    assert all(if_async.rps == as_is.rps for as_is, if_async in pairs)
    assert {if_async.view for _, if_async in pairs} == {ASYNC}


@pytest.mark.parametrize("run", sorted(STORED_RUNS.iterdir()), ids=lambda p: p.name)
def test_each_stored_capacity_entry_is_predicted_and_each_sync_view_for_its_async_twins(run):
    results = load(run / "results.json")
    checks = prediction.validate(results)
    entries = {e.key: e for e in results.capacity if e.is_result}
    assert entries
    assert {c.measured for c in checks if c.basis == c.measured} == set(entries)
    assert all(math.isfinite(c.ratio) and c.ratio > 0 for c in checks)
    for c in checks:
        if c.basis != c.measured:
            sync, twin = entries[c.basis], entries[c.measured]
            assert SCENARIOS[sync.scenario].view == SYNC
            assert SCENARIOS[twin.scenario].view == ASYNC
            assert SCENARIOS[twin.scenario].wait == SCENARIOS[sync.scenario].wait
            assert twin.instrumentation == sync.instrumentation, "a stack's CPU is in the cost"


def test_the_documented_agreement_is_the_computed_one():
    sentence = prediction.agreement(stored_checks(sorted(STORED_RUNS.iterdir())))
    text = " ".join((ROOT / "docs" / "YOUR_APP.md").read_text().split())
    assert sentence in text
