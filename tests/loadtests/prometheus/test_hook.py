"""The sweep's Prometheus (``loadtests.prometheus.hook``): off without a binary or when asked,
and, with a real Prometheus during a real sweep, the dashboards' panels of every cell stored in
results.json, drawn in its report, and Prometheus gone afterwards.
"""

from __future__ import annotations

import json
import re

import msgspec
import psutil
import pytest

from loadtests.analysis import results
from loadtests.analysis.records import Cell
from loadtests.prometheus import hook as prometheus_hook
from loadtests.prometheus import panels as seam
from loadtests.report import panels as report_panels
from loadtests.scenarios import SCENARIOS
from loadtests.sweep import cli
from loadtests.sweep.hooks import Guarded, beside
from tests.loadtests import results_json
from tests.loadtests.conftest import DATA, a_cell
from tests.loadtests.report.test_panels import (
    assert_exact_promql,
    assert_page_loads,
    prometheus_panels,
)

STORED = DATA / "results-prometheus.json"


def test_without_prometheus_the_sweep_says_so_once_and_goes_on(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(prometheus_hook.shutil, "which", lambda name: None)
    hook = Guarded(prometheus_hook.PrometheusHook())
    assert hook.locust_env() == {}, "the Locust exporter stays off"
    record = results.load(STORED)
    meta = record.meta
    meta.notes, meta.prometheus = [], None
    hook.start(tmp_path, meta)
    hook.targets(tmp_path, "uvicorn/1/async-api", {"app": "http://127.0.0.1:9"})
    cell = a_cell(windows=[])
    assert hook.cell_done(tmp_path, cell) is None
    assert hook.finish(tmp_path, record) is None
    assert hook.errors == []
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1, said
    assert "Prometheus is not installed" in said[0]
    assert meta.prometheus == {"status": "missing"}
    assert any("Prometheus is not installed" in note for note in meta.notes)


def test_no_prometheus_flag_and_external_hosts_leave_it_out():
    assert beside(cli.parse_args(["--no-prometheus"])).hook is None
    assert beside(cli.parse_args(["--host", "http://127.0.0.1:8000"])).hook is None
    assert isinstance(beside(cli.parse_args([])).hook, prometheus_hook.PrometheusHook)


# --- a tiny sweep, with a real Prometheus (tests/loadtests/conftest.py's tiny_sweep) ------------


@pytest.mark.live
@pytest.mark.slow
def test_the_sweep_stores_the_dashboards_panels_of_every_cell(tiny_sweep):
    record = results_json.load(tiny_sweep / "results.json")
    info = record["meta"]["prometheus"]
    assert info["status"] == "done", record["meta"]["notes"]
    assert not [n for n in record["meta"]["notes"] if "Prometheus" in n]
    assert info["cells"] == len(record["cells"]) == 2
    panels = prometheus_panels(record)
    jobs = set()
    for cell in record["cells"]:
        key = seam.cell_key(msgspec.convert(cell, Cell))
        mine = {p["key"]: p for p in panels if p["cell"] == key}
        wanted = set(prometheus_hook.PANEL_KEYS)
        if SCENARIOS[cell["scenario"]].uses_upstream:
            wanted |= set(prometheus_hook.UPSTREAM_PANEL_KEYS)
        assert set(mine) == wanted, key
        job = cell["extensions"]["prometheus"]["job"]
        for panel in mine.values():
            assert_exact_promql(panel)
            assert panel["variables"]["job"] == job, "the cell's own series, and no other's"
            assert panel["series"], panel["key"]
            assert all(any(v is not None for _, v in s["points"]) for s in panel["series"])
            assert panel["spans"] == [[w["start"], w["end"]] for w in cell["windows"]]
            # Rates over two scrapes, and no point after the run: a point at its end.
            assert panel["rate_interval"] == seam.rate_window(
                panel["step"], info["scrape_interval_s"]
            )
            (run,) = seam.runs(panel["spans"])
            last = max(t for s in panel["series"] for t, v in s["points"] if v is not None)
            assert abs(last - run[1]) < 0.01, (last, run)
        jobs.add(job)
        # The server's rate as Prometheus saw it, against the sweep's own count.
        server = next(s for s in mine["throughput_compare"]["series"] if s["label"] == "server")
        peak = max(v for _, v in server["points"] if v is not None)
        assert 0.3 * cell["rps"] <= peak <= 1.5 * cell["rps"], (peak, cell["rps"])
        in_flight = report_panels.peak_in_windows(mine["active_requests"])
        assert in_flight is not None
        assert 1 <= in_flight <= cell["users"]
    assert len(jobs) == 2
    assert len(json.dumps(record["panels"])) < 60_000, "results.json stays small"


@pytest.mark.live
@pytest.mark.slow
def test_the_sweeps_report_shows_them_and_prometheus_is_gone(tiny_sweep):
    html = (tiny_sweep / "report.html").read_text()
    record = results_json.load(tiny_sweep / "results.json")
    for group in {p["group"] for p in prometheus_panels(record)}:
        assert f"<h3>{group}</h3>" in html
    assert "## Time series (Prometheus)" in (tiny_sweep / "summary.md").read_text()
    (log,) = tiny_sweep.glob("prometheus-*.log")
    port = re.fullmatch(r"prometheus-(\d+)\.log", log.name).group(1)
    still_running = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if any(f"127.0.0.1:{port}" in arg for arg in p.info["cmdline"] or [])
    ]
    assert still_running == []


@pytest.mark.live
@pytest.mark.slow
def test_the_sweeps_report_opens_in_chromium_with_every_plot(tiny_sweep):
    record = results_json.load(tiny_sweep / "results.json")
    assert_page_loads(tiny_sweep / "report.html", len(prometheus_panels(record)))
