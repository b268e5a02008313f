"""A closed-loop latency's one pass down: the plugin's recorders (two Locust processes) write a
``WindowsFile``, the analysis reads it with the same types and gives the cell's figures, equal
to the nearest-rank percentiles of every request (to the latency's buckets)."""

from __future__ import annotations

import math
import random

import msgspec
import numpy as np
import pytest

from loadtests.analysis.assemble import _sum_by_worker, assemble, failed_cell
from loadtests.analysis.records import Window
from loadtests.model.experiment import Experiment
from loadtests.model.latency import QUANTILES, bucket_us
from loadtests.model.windows import Boundary, RunTotals, WindowsFile
from loadtests.plugins.window_recorder import Recorder
from tests.loadtests.analysis.test_scrape import exposition

NAME = "/async/api/"
WINDOWS, LENGTH_S = 2, 5.0


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _run(rng: random.Random, all_ms: list[float]) -> WindowsFile:
    clock = Clock()
    processes = [Recorder(clock), Recorder(clock)]
    for index in range(WINDOWS):
        clock.now = index * LENGTH_S
        for recorder in processes:
            recorder.mark(index)
        for step in range(1, 400):
            clock.now = index * LENGTH_S + step * LENGTH_S / 400
            ms = rng.lognormvariate(4.0, 0.8)
            failed = rng.random() < 0.01
            rng.choice(processes).on_request(NAME, ms, RuntimeError("boom") if failed else None)
            all_ms.append(ms)
    clock.now = WINDOWS * LENGTH_S
    for recorder in processes:
        recorder.mark(None)
    reports = [p.report(node, "worker") for node, p in zip("ab", processes, strict=True)]
    written = WindowsFile(
        users=8,
        warmup_s=1.0,
        steady=True,
        subwindows=[(80.0, 50.0)],
        length_s=LENGTH_S,
        count=WINDOWS,
        spawned_at=0.0,
        boundaries=[Boundary(unix=1000.0 + i * LENGTH_S) for i in range(WINDOWS + 1)],
        nodes=[msgspec.convert(msgspec.to_builtins(r), type(r)) for r in reports],  # as sent
        run_totals=RunTotals(requests=len(all_ms), failures=0),
        missing_reports=0,
    )
    return msgspec.json.decode(msgspec.json.encode(written), type=WindowsFile)  # as read


def test_a_cell_s_latency_is_every_request_s_nearest_rank_percentile(tmp_path):
    rng, all_ms = random.Random(1), []
    runs = [
        {"windows": _run(rng, all_ms), "sampler": None, "dir": tmp_path, "workers": 1}
        for _ in range(2)
    ]
    plan = Experiment("uvicorn", 1, "async-api", 8, 0.05, 0, 1, 0.0, LENGTH_S, 2)
    cell = assemble(plan, runs, tmp_path / "cells" / plan.slug, cores=2)
    bucketed = np.array([bucket_us(ms) for ms in all_ms]) / 1000.0
    for key, q in QUANTILES.items():
        assert getattr(cell.latency_ms, key) == np.quantile(bucketed, q, method="inverted_cdf")
        low, high = getattr(cell.latency_ms, f"{key}_ci95")
        assert low <= getattr(cell.latency_ms, key) <= high
    assert cell.latency_ms.max == bucketed.max()
    assert cell.latency_ms.mean == pytest.approx(bucketed.mean(), abs=0.01)
    assert (cell.requests, cell.repeats, cell.window_s) == (len(all_ms), 2, LENGTH_S)
    assert cell.failures == sum(w.failures for w in cell.windows) > 0
    assert cell.errors == [("boom", cell.failures)]
    assert [w.run for w in cell.windows] == [1, 1, 2, 2]
    assert sum(w.requests for w in cell.windows) == len(all_ms)
    # By shares: a request that began before an edge counts partly in the window before it.
    assert all(w.rps == pytest.approx(400 / LENGTH_S, rel=0.02) for w in cell.windows)
    assert {g.node for w in cell.windows for g in w.generator_cpu} == {"a", "b"}
    # No scrape files, one worker ready of the plan's one: what the flags say and no more.
    assert cell.flags == ["failures", "no-server-histogram"]


def test_a_cell_that_could_not_be_measured_keeps_the_plan_and_the_reason():
    plan = Experiment("gunicorn", 2, "sync-api", 8, 0.05, 0, 4, 0.0, LENGTH_S, 2)
    cell = failed_cell(plan, "the server never answered")
    assert (cell.server, cell.workers, cell.threads, cell.users) == ("gunicorn", 2, 4, 8)
    assert (cell.error, cell.flags, cell.rps, cell.measured) == (
        "the server never answered",
        ["error"],
        None,
        False,
    )
    assert cell.littles_law_rps == round(plan.spec.littles_law_rps(8, 0.05, 0), 2)


def test_requests_per_worker_rank_are_summed_over_runs_with_the_mean_imbalance():
    def window(run, by_worker):
        return Window(0, 1, 1, 0, 0, 0, None, [], [], run=run, server_requests_by_worker=by_worker)

    # Run 1: pids a and b; run 2 (fresh pids): c served all, the other worker none.
    windows = [window(1, {"a": 20, "b": 10}), window(1, {"a": 10}), window(2, {"c": 20})]
    assert _sum_by_worker(windows, workers=2) == ([50, 10], round((30 / 20 + 20 / 10) / 2, 3))
    assert _sum_by_worker([window(1, None)], workers=2) == (None, None)


def test_a_cell_s_server_side_is_the_difference_of_the_scrapes_at_its_windows_edges(tmp_path):
    rng, all_ms, bounds = random.Random(2), [], []
    windows = _run(rng, all_ms)
    for index, boundary in enumerate(windows.boundaries):
        done = 300 * index  # requests the route had served by this edge, all in (50, 100] ms
        (tmp_path / f"{index}.txt").write_text(
            exposition({0.05: 0, 0.1: done, math.inf: done}, 0.08 * done, route=NAME)
        )
        bounds.append(msgspec.structs.replace(boundary, scrape_file=f"{index}.txt"))
    run = {"windows": msgspec.structs.replace(windows, boundaries=bounds), "dir": tmp_path}
    plan = Experiment("uvicorn", 1, "async-api", 8, 0.05, 0, 1, 0.0, LENGTH_S, 2)
    cell = assemble(plan, [run | {"sampler": None}], tmp_path / "cells" / plan.slug, cores=2)
    assert [w.server_requests for w in cell.windows] == [300] * WINDOWS
    assert cell.server_requests == 300 * WINDOWS
    assert (cell.server_latency_ms.mean, cell.server_latency_ms.p50_bucket) == (80.0, (50.0, 100.0))
    assert "no-server-histogram" not in cell.flags
