"""The sweep's progress (``loadtests.sweep.progress``): counts and clocks only, one line per run
off a terminal, and a time left that learns what starting a server costs."""

from __future__ import annotations

import io

import pytest

from loadtests.sweep import cli, progress
from loadtests.sweep.plan import from_args
from loadtests.sweep.progress import INITIAL_START_COST, Progress, interleaved


def test_the_time_left_counts_every_run_not_done_and_learns_the_start_cost(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    _, plans = from_args(
        cli.parse_args(["--cell", "uvicorn:1:async-api", "--cell", "uvicorn:1:sync-api"])
    )
    runs = interleaved(plans)
    stream = io.StringIO()
    shown = Progress(runs, stream=stream)
    assert shown.left() == pytest.approx(sum(r.estimate(INITIAL_START_COST) for r in runs))
    shown.begin(runs[0])
    now[0] += 1.0
    assert shown.left() == pytest.approx(sum(r.estimate(INITIAL_START_COST) for r in runs) - 1)
    now[0] += runs[0].estimate(0.0) + 9.0  # the run as planned, and 10 s to start and stop
    shown.end(runs[0])
    assert shown.start_cost == pytest.approx(10.0)
    assert shown.left() == pytest.approx(sum(r.estimate(10.0) for r in runs[1:]))
    shown.skip(runs[1])
    assert shown.done == 2
    shown.note("a note")
    shown.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("0/6 runs: uvicorn x1 async-api (32 users), run 1, left ~")
    assert lines[-1] == "a note"


def test_runs_are_interleaved_across_cells():
    _, plans = from_args(
        cli.parse_args(["--cell", "uvicorn:1:async-api", "--cell", "uvicorn:1:sync-api"])
    )
    order = [(r.plan.scenario, r.index) for r in interleaved(plans)]
    assert order == [
        ("async-api", 0),
        ("sync-api", 0),
        ("async-api", 1),
        ("sync-api", 1),
        ("async-api", 2),
        ("sync-api", 2),
    ]
