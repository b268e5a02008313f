"""The report's Prometheus panels (``loadtests.report.panels``): one definition of each panel,
two renderings (issue 5, item 5). The dashboards' panels land in results.json with exactly the
dashboards' PromQL, and report.html draws them: a page that headless Chromium (Debian's
``chromium``) opens with every plot loaded and no console error. Nothing is skipped: ``make
test`` installs Prometheus and Chromium.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dashboards import panels as dashboard_panels
from dashboards.query import substitute
from loadtests import report
from tests.browser import check_page
from tests.loadtests import results_json
from tests.loadtests.conftest import DATA

STORED = DATA / "results-prometheus.json"


def prometheus_panels(record: dict) -> list[dict]:
    return [p for p in record.get("panels", []) if p.get("source") == "prometheus"]


def assert_exact_promql(panel: dict) -> None:
    """Every query as sent is the dashboards' own, with the cell's variables filled in."""
    definition = dashboard_panels.all_panels()[panel["key"]]
    assert panel["title"] == definition.title
    assert panel["unit"] == definition.unit
    assert [q["ref_id"] for q in panel["queries"]] == [q.ref_id for q in definition.queries]
    for sent, defined in zip(panel["queries"], definition.queries, strict=True):
        expected = substitute(defined.expr, panel["variables"], panel["rate_interval"])
        assert sent["expr"] == expected
        assert "$" not in sent["expr"]
    assert {s["ref_id"] for s in panel["series"]} <= {q.ref_id for q in definition.queries}


def assert_page_loads(page: Path, panels: int) -> None:
    check = check_page(page, timeout=60)
    assert check.ok, check.summary()
    assert len(check.svgs) >= panels + 4, "the four plots and every panel"


# --- a stored sweep with panels: the report alone ------------------------------


@pytest.fixture
def stored_prometheus_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "stored-prometheus"
    run_dir.mkdir()
    shutil.copy(STORED, run_dir / "results.json")
    return run_dir


def test_the_stored_panels_are_the_dashboards_own():
    record = results_json.load(STORED)
    panels = prometheus_panels(record)
    assert panels
    for panel in panels:
        assert_exact_promql(panel)


def test_the_report_draws_a_section_per_cell(stored_prometheus_run):
    summary, page = report.render(stored_prometheus_run)
    record = results_json.load(stored_prometheus_run / "results.json")
    panels = prometheus_panels(record)
    html = page.read_text()
    assert "<h2>Time series</h2>" in html
    for group in {p["group"] for p in panels}:
        assert f"<h3>{group}</h3>" in html
    for panel in panels:
        assert panel["title"] in html
    assert html.count('class="ts"') == len(panels)
    assert "The panels and their PromQL" in html
    assert "<script" not in html
    text = summary.read_text()
    assert "## Time series (Prometheus)" in text
    assert f"draws {len(panels)} of the dashboards' panels" in text


@pytest.mark.slow
def test_the_stored_report_opens_in_chromium_with_every_plot(stored_prometheus_run):
    _, page = report.render(stored_prometheus_run)
    record = results_json.load(stored_prometheus_run / "results.json")
    assert_page_loads(page, len(prometheus_panels(record)))
