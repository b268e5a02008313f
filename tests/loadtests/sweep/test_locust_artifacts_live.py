"""Each closed-loop run keeps Locust's own report (``--html``) and statistics (``--csv``) in its
cell's directory, beside the lab's window file, named in results.json and linked from the
report (issue 23 item 4). Read from the tiny sweep that tests/loadtests/conftest.py runs once."""

from __future__ import annotations

import csv

import pytest

from tests.loadtests import results_json

pytestmark = [pytest.mark.live, pytest.mark.slow]


def test_a_closed_loop_run_keeps_locusts_html_and_csv(tiny_sweep):
    record = results_json.load(tiny_sweep / "results.json")
    summary = (tiny_sweep / "summary.md").read_text()
    assert record["cells"]
    for cell in record["cells"]:
        cell_dir = tiny_sweep / cell["dir"]
        html = (cell_dir / "run1-locust.html").read_text()
        assert "<html" in html.lower()
        assert "locust" in html.lower()
        with (cell_dir / "run1-locust_stats.csv").open() as stats:
            rows = list(csv.DictReader(stats))
        total = next(row for row in rows if row["Name"] == "Aggregated")
        assert int(total["Request Count"]) > 0
        assert (cell_dir / "run1-locust_failures.csv").exists()
        # results.json names them, and the report links each (relative to the run directory).
        assert cell["instrumentation"] == "lab"
        assert {"run1-locust.html", "run1-locust_stats.csv"} <= set(cell["locust_files"])
        assert all((cell_dir / name).is_file() for name in cell["locust_files"])
        assert f"[run1-locust.html]({cell['dir']}/run1-locust.html)" in summary
