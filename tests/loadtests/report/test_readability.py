"""report.html reads as a page: no Markdown leaking, tables that fit a 1280 px window (and
scroll on their own where a run's are wider), and a server percentile above the client's
explained where it appears."""

import html
import json
import re
import shutil
import subprocess

import pytest

from loadtests import report
from loadtests.report.page import GAP_NOTE
from tests.browser import CHROMIUM_FLAGS, chromium_binary
from tests.loadtests.conftest import DATA
from tests.loadtests.report.test_advice import BENCH


def _render(tmp_path, source):
    shutil.copy(source, tmp_path / "results.json")
    return report.render(tmp_path)


def _text_of(page: str) -> str:
    """The page without its plots (SVG) and <code> spans, where backticks may stand."""
    page = re.sub(r"<svg.*?</svg>", "", page, flags=re.S)
    return re.sub(r"<code>.*?</code>", "", page, flags=re.S)


def test_no_markdown_leaks_into_the_page(tmp_path):
    summary, page = _render(tmp_path, BENCH)
    assert "status **complete**" in summary.read_text(), "Markdown keeps its bold"
    text = _text_of(page.read_text())
    assert "status <b>complete</b>" in text
    assert "**" not in text
    assert "`" not in text


def test_every_table_scrolls_inside_its_own_box(tmp_path):
    _, page = _render(tmp_path, BENCH)
    text = page.read_text()
    assert text.count("<table") >= 5
    assert text.count("<table") == text.count('<div class="wide"><table')
    assert re.search(r"\.wide\{overflow-x:auto", text)


def test_a_server_percentile_above_the_clients_is_explained(tmp_path):
    summary, page = _render(tmp_path, BENCH)
    # In this run thread-fanout's server p95 (700 ms, bucket 600-800) is above Locust's 672 ms.
    for text in (summary.read_text(), page.read_text()):
        (note,) = [line for line in text.splitlines() if GAP_NOTE in line]
        assert "thread-fanout" in note
        assert "p95" in note
        assert "interpolated within its histogram bucket [600, 800] ms" in note


# Once the page has loaded, each table's width against its box's and the page's against the
# window, written into the page for --dump-dom to print.
_MEASURE = """<script>addEventListener("load", () => {
  const out = [...document.querySelectorAll("table")].map(
    (t) => [t.querySelector("th").textContent, t.scrollWidth, t.parentElement.clientWidth]);
  out.push(["page", document.documentElement.scrollWidth, innerWidth]);
  const pre = document.createElement("pre");
  pre.id = "measured"; pre.textContent = JSON.stringify(out); document.body.append(pre);
});</script>"""
WINDOW_PX = 1280


@pytest.mark.parametrize("source", [BENCH, DATA / "results.json"])
def test_every_table_fits_a_1280_px_window(tmp_path, source):
    """Headless Chromium lays the page out at 1280 px: no table needs its scroll bar."""
    _, page = _render(tmp_path, source)
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", _MEASURE + "</body>"))
    dom = subprocess.run(
        [
            chromium_binary(),
            *CHROMIUM_FLAGS,
            f"--window-size={WINDOW_PX},900",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    measured = json.loads(html.unescape(re.search(r'<pre id="measured">(.*?)</pre>', dom)[1]))
    assert len(measured) >= 5
    wider = [(name, width, box) for name, width, box in measured if width > box]
    assert not wider, f"wider than their box at {WINDOW_PX} px: {wider}"


def test_a_one_cell_run_reads_as_one_cell_throughout(tmp_path):
    data = json.loads(BENCH.read_text())
    data["cells"] = [c for c in data["cells"] if c["scenario"] == "async-api"]
    data["capacity"] = []
    (tmp_path / "results.json").write_text(json.dumps(data))
    summary, _ = report.render(tmp_path)
    findings = summary.read_text().split("## Findings")[1].split("\n## ")[0]
    for sweep_talk in ("across cells", "any cell", "1 of 1", "cells reached", "median cell"):
        assert sweep_talk not in findings
    assert "async-api on uvicorn x1 served 98% of its ceiling" in findings
    assert "not what limited this cell" in findings
