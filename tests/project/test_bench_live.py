"""``python -m loadtests.sweep --app`` (what ``make bench APP=`` runs) on the sample, end to end
with a tiny plan: one route, one kind, one worker, one short closed-loop run (the smoke
profile's users and windows) and the smoke profile's short search. The cell and the map's entry
are named by the route's URL name; the cell's requests are counted on the project's /metrics
too; λ* is found (or flagged a lower bound by the search), the prediction beside it, and the
report names the route."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.analysis import scrape
from loadtests.analysis.results import load
from tests.loadtests.conftest import ROOT

from .conftest import SAMPLE, SAMPLE_FIXTURE

pytestmark = [pytest.mark.live, pytest.mark.slow]
RUN_TIMEOUT_S = 600  # a loaded two-core machine: the run itself takes about 40 s there


def own_sample() -> Path:
    """The sample copied afresh to a place of this module's own, the same for both runs (fixed, so
    its environment is built once and cached across sessions): a run makes the project's database
    copy afresh, and another test serving the sample's copy at the same time (pytest-xdist) would
    see it vanish."""
    root = ROOT / "var" / "bench-samples" / "sweep" / "sample"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("*.sqlite3", "__pycache__"))
    return root


def test_the_sweep_maps_a_project_route_by_its_url_name(tmp_path):
    sample = own_sample()
    routes = tmp_path / "routes"
    routes.write_text("GET /articles/<int:pk>/  pk=2\n")
    argv = [sys.executable, "-m", "loadtests.sweep", "--app", str(sample)]
    argv += ["--routes", str(routes), "--fixture", SAMPLE_FIXTURE, "--profile", "smoke"]
    argv += ["--servers", "uvicorn", "--workers", "1", "--repeats", "1", "--no-prometheus"]
    argv += ["--out", str(tmp_path / "reports"), "--run-id", "app"]
    done = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = tmp_path / "reports" / "app"
    record = load(run_dir / "results.json")
    [cell] = record.cells
    assert (cell.scenario, cell.server, cell.workers) == ("article-detail", "uvicorn", 1)
    assert "error" not in cell.flags
    assert cell.requests > 0
    assert cell.failures == 0
    # Counted by the project's own server, in its workers' metric files (its /metrics), under
    # the route's pattern: the windows' edges read them.
    assert cell.server_requests > 0
    assert cell.service_time_s > 0
    # At the histogram boundaries the sweep picked for the route's S, as for the lab's views.
    picked = {round(b * 1000, 3) for b in scrape.buckets_for(cell.service_time_s)}
    assert set(cell.server_latency_ms.p50_bucket) <= picked
    assert record.meta.target.startswith(f"the Django project {sample}")
    [entry] = record.capacity
    assert (entry.route, entry.scenario, entry.server, entry.workers) == (
        "article-detail",
        "article-detail",
        "uvicorn",
        1,
    )
    assert entry.error is None
    assert entry.steps
    # λ* is a rate that held, or the search says why it has none: the generator could not go on.
    if entry.lambda_star_rps is None:
        assert entry.lower_bound
        assert "generator" in entry.stopped_because
    else:
        assert 0 < entry.lambda_star_rps < float("inf")
        held, _failed = entry.lambda_star_bracket
        assert held == pytest.approx(entry.lambda_star_rps)
        assert entry.prediction is not None
        assert entry.prediction.service_ms > 0
        assert entry.prediction.view == "sync"
    assert entry.limit.sentence
    summary = (run_dir / "summary.md").read_text()
    assert "| article-detail | uvicorn | 1 | 10 |" in summary  # the cell, in every cell's table
    assert "uvicorn/1x8/article-detail" in summary
    assert "| article-detail | uvicorn | 1 x 8 |" in summary
    assert "article-detail" in (run_dir / "report.html").read_text()
    raw = json.loads((run_dir / "results.json").read_text())
    assert raw["capacity"][0]["route"] == "article-detail"


def test_a_wrong_answer_before_any_load_stops_the_run_with_it(tmp_path):
    sample = own_sample()
    routes = tmp_path / "routes"
    routes.write_text("GET /  status=404\n")
    argv = [sys.executable, "-m", "loadtests.sweep", "--app", str(sample), "--routes", str(routes)]
    argv += ["--fixture", SAMPLE_FIXTURE, "--servers", "uvicorn", "--no-prometheus"]
    argv += ["--out", str(tmp_path / "reports"), "--run-id", "wrong"]
    done = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    record = load(tmp_path / "reports" / "wrong" / "results.json")
    assert record.capacity == []
    [said] = [n for n in record.meta.notes if "was not measured" in n]
    assert "GET / (article-list) answered 200, expected 404" in said
