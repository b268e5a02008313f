"""Each closed-loop run keeps Locust's own report (``--html``) and statistics (``--csv``) in its
cell's directory, beside the lab's window file, named in results.json and linked from the
report (issue 23 item 4)."""

from __future__ import annotations

import csv

import pytest

from tests.loadtests import results_json
from tests.loadtests.conftest import run_sweep

pytestmark = [pytest.mark.live, pytest.mark.slow]


@pytest.mark.timeout(200)
def test_a_closed_loop_run_keeps_locusts_html_and_csv(tmp_path):
    done = run_sweep(
        "--out",
        str(tmp_path),
        "--run-id",
        "artifacts",
        "--cell",
        "uvicorn:1:async-api",
        "--users",
        "4",
        "--duration",
        "1",
        "--repeats",
        "1",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = results_json.load(tmp_path / "artifacts" / "results.json")
    (only,) = record["cells"]
    cell_dir = tmp_path / "artifacts" / only["dir"]
    html = (cell_dir / "run1-locust.html").read_text()
    assert "<html" in html.lower()
    assert "locust" in html.lower()
    with (cell_dir / "run1-locust_stats.csv").open() as stats:
        rows = list(csv.DictReader(stats))
    total = next(row for row in rows if row["Name"] == "Aggregated")
    assert int(total["Request Count"]) > 0
    assert (cell_dir / "run1-locust_failures.csv").exists()
    # results.json names them, and the report links each (relative to the run directory).
    assert only["instrumentation"] == "lab"
    assert {"run1-locust.html", "run1-locust_stats.csv"} <= set(only["locust_files"])
    assert all((cell_dir / name).is_file() for name in only["locust_files"])
    summary = (tmp_path / "artifacts" / "summary.md").read_text()
    assert f"[run1-locust.html]({only['dir']}/run1-locust.html)" in summary
