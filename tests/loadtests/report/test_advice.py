"""The report's first section, "What this means for your Django app", from stored runs alone."""

import html
import json
import re
import shutil
from pathlib import Path

import pytest

from loadtests import report
from loadtests.analysis import results
from loadtests.report import advice

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "docs" / "runs" / "20261201-131226" / "results.json"  # a complete make bench
EVIDENCE = re.compile(r"\d[\d,.]*\s*(x|req/s|ms)?.*\b(CI|λ\*|bracket)", re.S)


@pytest.fixture
def bench_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "bench"
    run_dir.mkdir()
    shutil.copy(BENCH, run_dir / "results.json")
    return run_dir


def _section(markdown: str) -> str:
    """The first section of summary.md, up to the next heading or the run's description."""
    start = markdown.index(f"## {advice.TITLE}")
    return markdown[start : markdown.index("\nRun `", start)]


def test_the_first_section_leads_both_outputs(bench_run):
    summary, page = report.render(bench_run)
    text, page_text = summary.read_text(), page.read_text()
    assert text.index(f"## {advice.TITLE}") < text.index("## Findings")
    assert page_text.index(f"<h2>{advice.TITLE}</h2>") < page_text.index("<h2>Findings</h2>")
    questions = [a.question for a in advice.answers(results.load(BENCH))]
    assert questions == [
        "Sync or async view?",
        "Which server?",
        "How many workers or threads?",
        "Fan out with asyncio or with threads?",
        "Which database path?",
    ], "a complete make bench answers every question"
    for a in advice.answers(results.load(BENCH)):
        for item in (a.question, a.conditions, *a.evidence):
            assert item in _section(text)
            assert html.escape(item, quote=False) in page_text


def test_every_answer_carries_its_evidence_and_conditions():
    for a in advice.answers(results.load(BENCH)):
        assert a.evidence, a.question
        for item in a.evidence:
            assert EVIDENCE.search(item), f"{a.question}: {item!r} quotes no CI, λ* or bracket"
        assert "CPU(s)" in a.conditions, "the machine it holds on"
        assert re.search(r"\d s wait", a.conditions), "the delay it holds for"


def test_indistinguishable_choices_are_said_to_be(bench_run):
    by = {a.question: a for a in advice.answers(results.load(BENCH))}
    views = by["Sync or async view?"]
    assert "cannot separate async from sync" in views.answer
    assert any("not significant" in e and "CI" in e for e in views.evidence)
    assert "the ceiling (the users in flight, or the server kind's slots" in views.answer, (
        "an equal figure is put down to the ceiling"
    )
    assert "slot-bound" in by["Which server?"].answer
    assert "CPU-bound" in by["Which server?"].answer
    assert "pool-bound" in by["Which database path?"].answer
    assert "no difference can be claimed" in " ".join(by["Which database path?"].evidence)


def test_a_one_cell_run_reads_as_one_cell(tmp_path):
    data = json.loads(BENCH.read_text())
    data["cells"] = [c for c in data["cells"] if c["scenario"] == "async-api"]
    data["capacity"] = []
    run_dir = tmp_path / "smoke"
    run_dir.mkdir()
    (run_dir / "results.json").write_text(json.dumps(data))
    summary, page = report.render(run_dir)
    section = _section(summary.read_text())
    assert "one cell" in section
    for cross in ("across cells", "these cells", "against sync", "Which server?"):
        assert cross not in section
    assert advice.TITLE in page.read_text()
    (one,) = advice.answers(results.load(run_dir / "results.json"))
    assert all(EVIDENCE.search(e) for e in one.evidence[:1])


def test_older_runs_still_render(stored_run):
    summary, _ = report.render(stored_run)
    section = _section(summary.read_text())
    assert "no CI" in section, "a run of one window set per cell claims no difference"


def test_separated_choices_are_said_to_be(tmp_path):
    """The same run with the sync view's every window at half its rate: now the CI leaves 1 out,
    and the answer says so instead of "cannot separate" (so that wording is not fixed)."""
    data = json.loads(BENCH.read_text())
    data["capacity"] = []
    (sync,) = [c for c in data["cells"] if c["scenario"] == "sync-api"]
    for window in sync["windows"]:
        window["rps"] /= 2
    sync["rps"] /= 2
    (tmp_path / "results.json").write_text(json.dumps(data))
    by = {a.question: a for a in advice.answers(results.load(tmp_path / "results.json"))}
    views = by["Sync or async view?"].answer
    assert "the data separate the two view styles" in views
    assert "cannot separate" not in views
    assert re.search(r"2\.\d\dx \(95% CI [12]\.\d\d-2\.\d\d;", views), views


def test_a_run_of_the_blocking_view_answers_what_blocking_costs():
    from tests.loadtests.conftest import DATA

    (a,) = advice.answers(results.load(DATA / "results-prometheus.json"))
    assert a.question == "What if an async view blocks?"
    assert "blocked event loop(s) / 0.2 s" in a.evidence[0], "the ceiling's arithmetic is quoted"
    assert re.search(
        r"\d+(\.\d)? req/s \(no CI\), \d+% of its ceiling \(5\.0 req/s, set by "
        r"the server's slots",
        a.evidence[0],
    )
