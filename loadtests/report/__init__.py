"""``summary.md`` and ``report.html`` from a run's ``results.json``, and from nothing else.

    python -m loadtests.report reports/latest     # or: python -m loadtests.sweep --render-only DIR

The Markdown holds the tables and the findings, readable on their own; the HTML adds the plots
as inline SVG, so the one file opens offline, and the Prometheus panels as time series.
"""

from __future__ import annotations

from pathlib import Path

from loadtests.analysis import results


def render(run_dir: Path | str) -> list[Path]:
    """Write summary.md and report.html beside results.json; return their paths."""
    from .page import report_html, summary_markdown

    run_dir = Path(run_dir)
    record = results.load(run_dir / "results.json")
    summary = run_dir / "summary.md"
    page = run_dir / "report.html"
    summary.write_text(summary_markdown(record))
    page.write_text(report_html(record))
    return [summary, page]
