"""``python -m loadtests compare`` on stored runs, and on copies derived from them (slower, a little
slower, a configuration missing), through the command's own entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests import compare

ROOT = Path(__file__).resolve().parents[2]
CLOSED_LOOP = ROOT / "docs/runs/20261201-175843"  # four cells of three fresh runs each
EARLIER = ROOT / "docs/runs/20261201-131226"  # the same four cells, measured earlier
CAPACITY = ROOT / "docs/runs/20261201-174957"  # six entries of three fresh searches each
OLD = ROOT / "tests/loadtests/data/results.json"  # schema 1: one run per cell


def derive(source: Path, tmp_path: Path, rps=1.0, latency=1.0, lambda_star=1.0, drop=()) -> Path:
    """A copy of a stored run with its rates and latencies scaled, and the cells of ``drop``
    (scenario names) removed."""
    data = json.loads((source / "results.json").read_text())
    data["cells"] = [c for c in data["cells"] if c["scenario"] not in drop]
    for cell in data["cells"]:
        cell["rps"] *= rps
        for window in cell["windows"]:
            window["rps"] *= rps
            window["requests"] = round(window["requests"] * rps)
            for key in ("p50", "p99"):
                window["latency_ms"][key] *= latency
    for entry in data.get("capacity", []):
        entry["lambda_star_rps"] *= lambda_star
        entry["repeats_lambda_star_rps"] = [
            x * lambda_star for x in entry.get("repeats_lambda_star_rps", [])
        ]
    path = tmp_path / "derived.json"
    path.write_text(json.dumps(data))
    return path


def run(capsys, *argv) -> tuple[int, str]:
    code = compare.main([str(a) for a in argv])
    return code, capsys.readouterr().out


def rows(capsys, *argv) -> tuple[int, dict, dict]:
    """The exit code, the rows by (configuration, measure), and the whole JSON."""
    code, out = run(capsys, *argv, "--json")
    data = json.loads(out)
    return code, {(r["configuration"], r["measure"]): r for r in data["rows"]}, data


def test_a_run_against_itself_is_all_ones_and_nothing_significant(capsys):
    code, found, data = rows(
        capsys, CLOSED_LOOP, CLOSED_LOOP / "results.json", "--fail-if-slower", "0"
    )
    measured = list(found.values())
    assert code == 0
    assert measured
    assert data["only_a"] == data["only_b"] == []
    assert all(r["ratio"] == pytest.approx(1.0) for r in measured)
    assert {r["verdict"] for r in measured} <= {"not significant", "no interval"}
    # Three fresh runs a side: the closed-loop cells' measures have an interval.
    assert all(r["low"] is not None for r in measured if r["configuration"].startswith("closed"))


def test_half_the_throughput_is_significant_and_fails_ci_past_the_threshold(capsys, tmp_path):
    slower = derive(CLOSED_LOOP, tmp_path, rps=0.5, latency=2.0)
    code, found, _ = rows(capsys, CLOSED_LOOP, slower, "--fail-if-slower", "10")
    key = ("closed loop uvicorn/1x8/async-api", compare.RPS)
    assert found[key]["ratio"] == pytest.approx(0.5)
    assert found[key]["verdict"] == "significant"
    assert found[key]["high"] < 0.9
    assert code == compare.SLOWER
    assert key in {
        (r["configuration"], r["measure"])
        for r in json.loads(
            run(capsys, CLOSED_LOOP, slower, "--fail-if-slower", "10", "--json")[1]
        )["slower"]
    }
    # Twice the p99 is "more than 60% slower"; half the rate is not (its interval lies above 0.4).
    assert run(capsys, CLOSED_LOOP, slower, "--fail-if-slower", "60")[0] == compare.SLOWER
    (tmp_path / "rps").mkdir()
    half_rate = derive(CLOSED_LOOP, tmp_path / "rps", rps=0.5)
    assert run(capsys, CLOSED_LOOP, half_rate, "--fail-if-slower", "60")[0] == 0
    # Without the flag the command only reports.
    assert run(capsys, CLOSED_LOOP, slower)[0] == 0


def test_two_real_runs_differ_without_significance_and_pass(capsys):
    code, found, _ = rows(capsys, EARLIER, CLOSED_LOOP, "--fail-if-slower", "0")
    assert code == 0
    rate = found[("closed loop uvicorn/1x8/async-api", compare.RPS)]
    assert rate["ratio"] != pytest.approx(1.0, abs=1e-4)
    assert rate["low"] < 1 < rate["high"]
    assert rate["verdict"] == "not significant"


def test_significantly_but_slightly_slower_passes_a_larger_threshold(capsys, tmp_path):
    slower = derive(CLOSED_LOOP, tmp_path, rps=0.99, latency=1.01)
    code, out = run(capsys, CLOSED_LOOP, slower, "--fail-if-slower", "5")
    assert code == 0
    line = next(x for x in out.splitlines() if "uvicorn/1x8/async-api" in x and " rps " in x)
    assert "0.990" in line
    assert line.split()[-1] == "significant"
    assert run(capsys, CLOSED_LOOP, slower, "--fail-if-slower", "0.5")[0] == compare.SLOWER


def test_a_lower_lambda_star_over_fresh_searches_fails(capsys, tmp_path):
    slower = derive(CAPACITY, tmp_path, lambda_star=0.5)
    code, found, _ = rows(capsys, CAPACITY, slower, "--fail-if-slower", "20")
    key = ("capacity uvicorn/1x8/sync-db/pool10", compare.LAMBDA)
    assert found[key]["ratio"] == pytest.approx(0.5)
    assert found[key]["high"] < 0.8
    assert code == compare.SLOWER


def test_configurations_in_one_run_only_are_listed(capsys, tmp_path):
    fewer = derive(CLOSED_LOOP, tmp_path, drop=("thread-fanout",))
    code, out = run(capsys, CLOSED_LOOP, fewer, "--fail-if-slower", "5")
    assert code == 0
    assert "only in A: closed loop uvicorn/1x8/thread-fanout" in out.splitlines()
    code, out = run(capsys, fewer, CLOSED_LOOP)
    assert "only in B: closed loop uvicorn/1x8/thread-fanout" in out.splitlines()


def test_a_configuration_under_another_load_is_compared_and_said(capsys, tmp_path):
    data = json.loads((CLOSED_LOOP / "results.json").read_text())
    data["cells"][0]["users"] *= 2
    (tmp_path / "more.json").write_text(json.dumps(data))
    _, out = run(capsys, CLOSED_LOOP, tmp_path / "more.json")
    assert "load differs: closed loop uvicorn/1x8/sync-api: users 32 -> 64" in out.splitlines()
    assert run(capsys, CLOSED_LOOP, CLOSED_LOOP)[1].count("load differs") == 0


def test_an_old_schema_compares_without_intervals(capsys):
    code, found, _ = rows(capsys, OLD, OLD, "--fail-if-slower", "0")
    measured = list(found.values())
    assert code == 0
    assert measured
    assert {r["verdict"] for r in measured} == {"no interval"}
    out = run(capsys, OLD, OLD, "--fail-if-slower", "0")[1]
    assert "--fail-if-slower cannot judge" in out.splitlines()[-1]


def test_the_command_dispatches_and_says_its_exit_codes():
    done = subprocess.run(
        [sys.executable, "-m", "loadtests", "compare", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"or {compare.SLOWER} when --fail-if-slower" in " ".join(done.stdout.split())
    bad = subprocess.run(
        [sys.executable, "-m", "loadtests", "compare", "nowhere", "nowhere"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "nowhere" in bad.stderr


def test_the_documented_exit_code_is_the_codes():
    text = " ".join((ROOT / "docs" / "YOUR_APP.md").read_text().split())
    assert f"the command exits {compare.SLOWER} when a configuration's rate" in text
