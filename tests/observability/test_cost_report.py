"""The report's section on what each stack costs at capacity, and its links to Locust's files."""

from __future__ import annotations

import json
import shutil

import msgspec

from loadtests import report
from loadtests.observability.stacks import STACK_NAMES
from loadtests.report import observability
from tests.loadtests.conftest import STORED_RESULTS
from tests.loadtests.report.test_capacity_report import _searched

ROW = "| uvicorn/1x8/async-api | "


def _under(stack: str, lambdas: list[float], cpu_ms: float):
    entry = _searched("uvicorn", 1, "async-api", lambdas)
    ceiling = 1000.0 / cpu_ms  # one core
    limit = msgspec.structs.replace(
        entry.limit,
        cpu_ms_per_request=cpu_ms,
        cpu_rps=ceiling,
        cpu_rps_ci95=[0.9 * ceiling, 1.1 * ceiling],
    )
    variant = "" if stack == "lab" else stack
    return msgspec.structs.replace(
        entry, instrumentation=stack, variant=variant, limit=limit, thread_hops=2.0
    )


def test_each_stack_against_none_with_its_interval_cpu_and_hops(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(STORED_RESULTS, run_dir / "results.json")
    data = json.loads((run_dir / "results.json").read_text())
    entries = [
        _under("none", [1000.0, 1020.0, 990.0], 0.9),
        _under("lab", [1000.0, 980.0, 1010.0], 0.95),
        _under("opentelemetry", [700.0, 720.0, 690.0], 1.4),
    ]
    data["capacity"] = [msgspec.to_builtins(e) for e in entries]
    data["cells"][0] |= {"locust_files": ["run1-locust.html", "run1-locust_stats.csv"]}
    (run_dir / "results.json").write_text(json.dumps(data))
    summary, page = report.render(run_dir)
    text = summary.read_text()
    assert "## What each instrumentation stack costs at capacity" in text
    ours = [line.split(" | ") for line in text.splitlines() if line.startswith(ROW)]
    rows = {parts[1]: " | ".join(parts) for parts in ours if parts[1] in STACK_NAMES}
    assert set(rows) == {"none", "lab", "opentelemetry"}
    assert "| 1 | baseline |" in rows["none"]
    assert "not significant" in rows["lab"]  # 1000, 980, 1010 against 1000, 1020, 990
    assert "0.70x (95% CI" in rows["opentelemetry"]
    assert "| significant |" in rows["opentelemetry"]
    # The CPU ceiling's interval turned over: 1.4 ms / 1.1 to 1.4 ms / 0.9.
    assert "| 1.40 (1.27-1.56) | 2 |" in rows["opentelemetry"]
    # Its CPU ceiling beside the model's: 1,000 / 1.4 ms, with the interval planted.
    assert "CPU 714 (643-786)" in rows["opentelemetry"]
    # What it means, said from those figures: only the stack whose ratio leaves 1 out.
    said = "uvicorn/1x8/async-api: opentelemetry held 0.70x (95% CI"
    assert said in text
    assert "at 1.40 (1.27-1.56) ms of server CPU per request against 0.90 (0.82-1.00)." in text
    assert "uvicorn/1x8/async-api: lab held" not in text
    cell = data["cells"][0]
    link = f"[run1-locust.html]({cell['dir']}/run1-locust.html)"
    assert f"- {cell['server']} x{cell['workers']} {cell['scenario']}: {link}" in text
    html = page.read_text()
    assert f'<a href="{cell["dir"]}/run1-locust_stats.csv">run1-locust_stats.csv</a>' in html
    assert "What each instrumentation stack costs at capacity</h2>" in html


def test_a_run_of_one_stack_has_no_such_section(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(STORED_RESULTS, run_dir / "results.json")
    summary, _ = report.render(run_dir)
    assert "instrumentation stack costs" not in summary.read_text()


def test_a_lower_bound_or_a_search_that_held_nothing_gets_no_verdict():
    none = _under("none", [1000.0, 1020.0, 990.0], 0.9)
    bound = msgspec.structs.replace(_under("lab", [900.0, 950.0, 920.0], 0.95), lower_bound=True)
    empty = msgspec.structs.replace(
        _under("opentelemetry", [700.0], 1.4), lambda_star_rps=None, lower_bound=True
    )
    _, (_, lab, otel) = observability.rows([none, bound, empty])
    assert lab[1] == "lab"
    # A lower bound bounds the ratio on one side only: lab's true λ* is higher, so the ratio is
    # at least 0.92x, which cannot say lab costs anything.
    assert lab[3:5] == [
        "at least 0.92x (95% CI 0.87-0.97)",
        "no verdict (lab's λ* is a lower bound)",
    ]
    assert otel[2:5] == ["no rate held (the generator limited the search)", "-", "no λ* to compare"]


def test_where_no_stack_moves_lambda_star_it_says_so_and_which_limit_binds():
    none = _under("none", [1000.0, 1020.0, 990.0], 0.9)
    lab = _under("lab", [1000.0, 980.0, 1010.0], 0.95)
    (said, *method) = observability.sentences([none, lab])
    assert said.startswith("uvicorn/1x8/async-api: no stack's λ* differs significantly from none's")
    assert "(1 compared" in said
    assert len(method) == 3, "then what the table rests on"
    # One search a side: no interval, so nothing is claimed either way.
    one = [_under("none", [1000.0], 0.9), _under("lab", [700.0], 0.95)]
    assert observability.findings(one) == []


def test_a_baseline_the_generator_limited_still_bounds_a_costlier_stack():
    none = msgspec.structs.replace(_under("none", [1000.0, 1020.0, 990.0], 0.6), lower_bound=True)
    otel = _under("opentelemetry", [700.0, 720.0, 690.0], 1.4)
    lab = msgspec.structs.replace(_under("lab", [990.0, 1000.0, 1010.0], 0.62), lower_bound=True)
    _, (_, lab_row, otel_row) = observability.rows([none, lab, otel])
    # none's true λ* is higher still, so the ratio is at most what was measured: below 1.
    assert otel_row[3].startswith("at most 0.70x (95% CI")
    assert otel_row[4] == "significant (none's λ* is a lower bound)"
    assert lab_row[3:5] == [
        "1.00x",
        "no verdict: a λ* is a lower bound (the generator limited its search)",
    ]
    (said, *_) = observability.sentences([none, lab, otel])
    assert said.startswith("uvicorn/1x8/async-api: opentelemetry held at most 0.70x (95% CI")
    assert "(none's is a lower bound: the generator limited its searches)" in said
