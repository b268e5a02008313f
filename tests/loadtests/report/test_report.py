"""summary.md and report.html rebuilt from a stored results.json alone, with no server."""

import json
import re
import shutil

import pytest

from loadtests import report
from loadtests.analysis import results
from loadtests.analysis.records import SCHEMA_VERSION
from loadtests.report import advice
from loadtests.report.page import GAP_NOTE
from loadtests.sweep.main import main as sweep_main
from tests.loadtests.conftest import DATA


def test_stored_results_are_whole():
    record = results.load(DATA / "results.json")
    assert record.schema_version == SCHEMA_VERSION, "migrated from the schema it was written in"
    assert record.meta.versions["django"]
    assert record.meta.machine.cpu_count >= 1
    assert record.meta.git.commit
    assert record.meta.started_at < record.meta.ended_at
    assert record.meta.profile == "default"
    assert record.meta.pinning
    assert len(record.cells) == 13
    assert all(c.windows for c in record.cells if c.measured)


def test_summary_holds_the_tables_and_the_findings(stored_run):
    summary, _ = report.render(stored_run)
    text = summary.read_text()
    assert "## Findings" in text
    assert "| scenario | server | 1 worker: req/s (of ceiling, binds) | 2 workers: " in text
    for scenario in ("sync-api", "async-api", "async-fanout", "sequential", "async-blocking"):
        assert f"| {scenario} |" in text
    assert "status **interrupted**" in text
    assert "exited with 1 before it was ready" in text, "a failed cell is reported, not dropped"
    assert "never the bottleneck" in text, "the upstream check is stated"
    assert "| 40 (99%, slots) |" in text, "a slot-bound cell's share of its ceiling, named"
    assert "| 151 (94%, users) |" in text


def test_the_page_is_self_contained(stored_run):
    _, page = report.render(stored_run)
    text = page.read_text()
    assert text.count("<svg") >= 5, "four plots and the extension's panel"
    assert "Time series" in text, "panels in results.json become sections"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "nothing to fetch"
    assert "<script" not in text
    assert "<link" not in text
    assert text.count("<figcaption>") >= 4, "each plot says what it shows"


def test_render_only_from_the_command_line(stored_run, capsys):
    assert sweep_main(["--render-only", str(stored_run)]) == 0
    assert (stored_run / "report.html").exists()
    assert "report.html" in capsys.readouterr().out


def test_a_file_that_is_not_a_sweep_is_refused(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"cells": [{"server": "uvicorn"}]}))
    with pytest.raises(ValueError, match=r"is not a sweep's results\.json"):
        report.render(tmp_path)


@pytest.mark.parametrize("name", ["results", "results-prometheus"])
def test_a_stored_run_renders_the_summary_the_old_code_rendered(tmp_path, name):
    """Every figure of summary.md, from a results.json written before the refactor, as the
    pre-refactor code rendered it (stored in data/golden)."""
    data = DATA
    shutil.copy(data / f"{name}.json", tmp_path / "results.json")
    summary, _ = report.render(tmp_path)
    # New since: the first section (test_advice.py) and the notes on a server percentile above
    # the client's (test_readability.py); the rest is unchanged.
    old = re.sub(
        rf"^## {re.escape(advice.TITLE)}\n.*?(?=^Run `)", "", summary.read_text(), flags=re.S | re.M
    )
    old = re.sub(rf"^{re.escape(GAP_NOTE)} .*\n\n", "", old, flags=re.M)
    assert old == (data / "golden" / f"{name}.summary.md").read_text()


def test_results_are_written_as_they_are_read_with_their_schema_version(tmp_path):
    record = results.load(DATA / "results-prometheus.json")
    results.write(tmp_path / "results.json", record)
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["schema_version"] == SCHEMA_VERSION
    assert "schema" not in written["meta"], "version 1's place for it is migrated away"
    assert results.load(tmp_path / "results.json") == record


def test_a_cell_with_a_misspelt_field_is_refused_on_write_and_read(tmp_path):
    record = results.load(DATA / "results.json")
    record.cells[0].rps = "fast"
    with pytest.raises(ValueError, match="Expected `float"):
        results.write(tmp_path / "results.json", record)
    data = json.loads((DATA / "results.json").read_text())
    data["cells"][0]["rps_per_second"] = 1.0
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="rps_per_second"):
        results.load(tmp_path / "results.json")
