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
    assert lab[3:5] == [
        "0.92x",
        "no verdict: a λ* is a lower bound (the generator limited its search)",
    ]
    assert otel[2:5] == ["no rate held (the generator limited the search)", "-", "no λ* to compare"]
