"""report.html reads as a page: no Markdown leaking, wide tables that scroll on their own, and a
server percentile above the client's explained where it appears."""

import re
import shutil

from loadtests import report
from loadtests.report.sections import GAP_NOTE
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
