"""Issue 11 on real servers: no lockstep, server and client count the same windows, intervals
that hold their estimates, and a configuration measured twice is not told from itself."""

from __future__ import annotations

import json
import re

import pytest

from loadtests.analysis.records import SCHEMA_VERSION
from tests.loadtests import results_json
from tests.loadtests.conftest import run_sweep

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.quiet]

USERS = 16
# A short wait (the sweep's is 0.2 s): 16 users ask 320 req/s, so a run holds its 300 requests
# in a 1 s window and the steady rule's sub-windows last their least, 0.5 s (at 0.2 s: a 2 s
# window, 0.63 s sub-windows, some 2 s more a run). The server's CPU is not what binds: one
# uvicorn core serves the sync view at about 1,000 req/s.
DELAY = 0.05
# Fresh runs per cell, the unit of the intervals and of the comparison. Not two: Student's t
# with 1 degree of freedom (12.7) left the same configuration's ratio at 1.02x (95% CI
# 0.40-2.60), an interval no fault in the statistics could leave.
RUNS = 3
CELL = "uvicorn:2:sync-api"
SAME_WITHIN = 0.05  # how far from 1 the same configuration's ratio interval may end


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The sync view on two uvicorn workers, measured twice: RUNS fresh runs each, of one window.

    Two workers, so that the server's counts are checked per worker and summed; twice, so that
    the configuration is compared with itself. (The async view on one worker is the other
    live sweeps' cell.) The run, not the window, is the unit of the intervals and of the
    comparison: one window a run (1 s, some 300 requests) decides them as two do.
    """
    out = tmp_path_factory.mktemp("reports")
    done = run_sweep(
        "--out",
        str(out),
        "--run-id",
        "stats",
        "--no-prometheus",
        "--cell",
        CELL,
        "--cell",
        CELL,
        "--users",
        str(USERS),
        "--delay",
        f"{DELAY:g}",
        "--repeats",
        str(RUNS),
        "--windows-per-run",
        "1",
        # Room above the default profile's 120 s limit on a busy machine: it stopped there
        # once, with three other test workers beside it.
        "--time-limit",
        "240",
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "stats"


@pytest.mark.timeout(300)
def test_no_cell_holds_more_requests_in_flight_than_users(sweep):
    record = results_json.load(sweep / "results.json")
    assert len(record["cells"]) == 2
    for cell in record["cells"]:
        assert cell["repeats"] == RUNS, "fresh runs"
        assert {w["run"] for w in cell["windows"]} == set(range(1, RUNS + 1))
        tolerance = cell["concurrency_tolerance"]
        assert 0 < tolerance < USERS / 4
        assert cell["achieved_concurrency"] <= USERS + tolerance, cell["achieved_concurrency"]
        assert "concurrency-above-users" not in cell["flags"]
        for warmup in cell["warmups"]:
            assert warmup["steady"] is True or "never-steady" in cell["flags"]
            assert warmup["seconds"] > 0


@pytest.mark.timeout(300)
def test_users_start_staggered(sweep):
    """Locust spawned the users over one service time (the wait), not in one instant."""
    log = next((sweep / "cells").glob("uvicorn-2w-sync-api/run1-locust.log")).read_text()
    assert f"Ramping to {USERS} users at a rate of {USERS / DELAY:.2f} per second" in log


@pytest.mark.timeout(300)
def test_server_and_client_count_the_same_windows(sweep):
    record = results_json.load(sweep / "results.json")
    for cell in record["cells"]:
        for window in cell["windows"]:
            client, server = window["requests"], window["server_requests"]
            # Only requests in flight at an edge may differ (answered by the server, not yet
            # read by a busy Locust): at most the users, far fewer on a quiet machine (0-3
            # seen; 12 of 16 once, on a loaded one). The /metrics scrapes this replaces were
            # off by 16% fewer to 11% more.
            assert abs(server - client) <= USERS, (client, server)
            assert sum(window["server_requests_by_worker"].values()) == server
            assert all(0 <= s < 1.0 for s in window["read_s"]), "read the files, quickly"
        # Back to back, a request read late moves to the next window: the cell's sum agrees, but
        # for the last edge's requests in flight (at most the users, as at any edge; a bound of
        # 4 failed once with three other test workers beside it).
        client = sum(w["requests"] for w in cell["windows"])
        assert abs(cell["server_requests"] - client) <= max(USERS, 0.02 * client)
        if cell["workers"] == 2:
            assert len(cell["server_requests_by_worker"]) == 2
            assert cell["worker_imbalance"] >= 1.0


@pytest.mark.timeout(300)
def test_intervals_are_present_and_hold_their_estimates(sweep):
    record = results_json.load(sweep / "results.json")
    for cell in record["cells"]:
        low, high = cell["rps_ci95"]
        assert low <= cell["rps"] <= high
        for key in ("p50", "p95", "p99"):
            low, high = cell["latency_ms"][f"{key}_ci95"]
            assert low <= cell["latency_ms"][key] <= high, key
        for key in ("p50", "p95", "p99"):
            low, high = cell["server_latency_ms"][f"{key}_bucket"]
            assert low <= cell["server_latency_ms"][key] <= (high or float("inf"))


@pytest.mark.timeout(300)
def test_a_configuration_against_itself_is_not_significant(sweep):
    summary = (sweep / "summary.md").read_text()
    (line,) = [s for s in summary.splitlines() if "The same configuration twice" in s]
    # Its interval reaches within SAME_WITHIN of 1: usually it holds 1 ("not significant"), but
    # a 95% interval misses the truth one time in twenty by design, and on a loaded machine the
    # order of the runs (each starts while the one before it stops) may leave a bias of a few
    # percent: 0.96x (95% CI 0.93-0.99) was seen once. A fault in the statistics is far wider.
    low, high = map(float, re.search(r"95% CI ([\d.]+)-([\d.]+)", line).groups())
    assert low <= 1 + SAME_WITHIN, line
    assert high >= 1 - SAME_WITHIN, line
    assert "Server and client counted the same windows" in summary
    assert "Coordinated omission" in summary
    record = json.loads((sweep / "results.json").read_text())
    assert record["schema_version"] == SCHEMA_VERSION
