"""The sweep end to end on real servers: files, schema, physics, distributed Locust.

Ctrl-C mid-sweep is tests/reliability/test_harness.py's (every process of the tree watched).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.loadtests import results_json
from tests.loadtests.conftest import run_sweep

pytestmark = [pytest.mark.live, pytest.mark.slow]

# One fresh run of two windows per cell: the tests of this file look at physics, not intervals
# (tests/loadtests/sweep/test_statistics_live.py does those).
SHORT = ["--duration", "1", "--repeats", "1"]


def cell(record: dict, server: str, workers: int, scenario: str) -> dict:
    return next(
        c
        for c in record["cells"]
        if (c["server"], c["workers"], c["scenario"]) == (server, workers, scenario)
    )


THREADS, DELAY = 4, 0.2
CELLS = ("uvicorn:1:async-fanout", "uvicorn:1:sequential", "gunicorn-gthread:1:sync-api")


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory) -> Path:
    """The async fan-out and its sequential baseline on uvicorn, and a sync sleep view under
    gunicorn with 4 threads, fewer than the users: one sweep, both server families.

    (Two workers' counts, per worker and summed, are test_statistics_live.py's.)
    """
    out = tmp_path_factory.mktemp("reports")
    cells = [arg for cell in CELLS for arg in ("--cell", cell)]
    done = run_sweep(
        "--out",
        str(out),
        "--run-id",
        "small",
        *cells,
        "--threads",
        str(THREADS),
        "--users",
        "10",
        "--fanout",
        "10",
        "--delay",
        str(DELAY),
        *SHORT,
        # Room above the default profile's closed-loop limit on a busy machine.
        "--time-limit",
        "300",
        "--no-prometheus",  # the tiny sweep (tests/loadtests/conftest.py) runs one
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.mark.timeout(400)
def test_the_sweep_writes_the_contracts_files(small_sweep):
    run_dir = small_sweep / "small"
    assert (small_sweep / "latest").resolve() == run_dir.resolve()
    for name in ("results.json", "summary.md", "report.html"):
        assert (run_dir / name).stat().st_size > 0
    record = results_json.load(run_dir / "results.json")
    meta = record["meta"]
    assert meta["status"] == "complete"
    assert meta["machine"]["cpu_count"] >= 1
    assert {"django", "locust", "uvicorn", "gunicorn"} <= set(meta["versions"])
    assert meta["started_at"] < meta["ended_at"]
    assert [f"{c['server']}:{c['workers']}:{c['scenario']}" for c in record["cells"]] == list(CELLS)
    for c in record["cells"]:
        assert c["requests"] > 0, c
        assert c["failures"] == 0, c["errors"]
        assert c["server_requests"] > 0, "the app's histogram saw the window too"
        assert c["efficiency"] == pytest.approx(c["rps"] / c["littles_law_rps"], rel=1e-2)
        for key in ("p50", "p95", "p99"):
            assert c["latency_ms"][key] > 0
            assert c["server_latency_ms"][key] > 0
        if c["scenario"] != "sync-api":  # the fan-outs call the upstream; sync-api does not
            assert c["upstream"]["cpu_percent"] < 50, "the upstream is never the bottleneck"


@pytest.mark.timeout(400)
def test_async_fanout_beats_the_sequential_baseline_fivefold(small_sweep):
    record = results_json.load(small_sweep / "small" / "results.json")
    fanout = cell(record, "uvicorn", 1, "async-fanout")
    baseline = cell(record, "uvicorn", 1, "sequential")
    assert fanout["rps"] >= 5 * baseline["rps"], (fanout["rps"], baseline["rps"])
    # Both within reach of theory: the baseline is 10 users / (10 x 0.2 s) = 5 req/s.
    assert baseline["rps"] == pytest.approx(5, rel=0.2)


@pytest.mark.timeout(400)
def test_gthread_never_beats_its_threads(small_sweep):
    """A sync sleep view under gunicorn, 1 worker, T threads: at most T / delay (+10%)."""
    record = results_json.load(small_sweep / "small" / "results.json")
    only = cell(record, "gunicorn-gthread", 1, "sync-api")
    assert only["threads"] == THREADS
    ceiling = THREADS / DELAY
    assert only["model_rps"] == pytest.approx(ceiling)
    for window in only["windows"]:
        assert window["rps"] <= 1.1 * ceiling
    assert only["rps"] > 0.5 * ceiling, "and it gets near it"


@pytest.mark.timeout(200)
def test_distributed_locust_with_two_local_workers(tmp_path):
    done = run_sweep(
        "--out",
        str(tmp_path),
        "--run-id",
        "dist",
        "--distributed",
        "2",
        "--cell",
        "uvicorn:1:async-api",
        "--users",
        "8",
        *SHORT,
        "--no-prometheus",  # nothing here is Prometheus's (the tiny sweep runs one)
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = results_json.load(tmp_path / "dist" / "results.json")
    assert record["meta"]["generator"]["mode"] == "distributed"
    (only,) = record["cells"]
    assert only["generator"]["processes"] == 3, "the master and two workers reported"
    assert only["requests"] > 0
    assert only["failures"] == 0
    run = json.loads((tmp_path / "dist" / only["dir"] / "run1.json").read_text())
    assert run["missing_reports"] == 0
    workers = [n for n in run["nodes"] if n["role"] == "worker"]
    assert len(workers) == 2
    for node in workers:
        assert sum(e["requests"] for w in node["windows"] for e in w["entries"].values()) > 0
