"""The sweep's Prometheus (issue 5, item 5): one definition of each panel, two renderings.

The dashboards' panels, evaluated through a real Prometheus during a real sweep, land in
results.json with exactly the dashboards' PromQL, and report.html draws them: a page that
headless Chromium (Debian's ``chromium``) opens with every plot loaded and no console error,
whether rendered from a stored results.json or from the sweep just run. Nothing is skipped:
``make test`` installs Prometheus and Chromium.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import msgspec
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dashboards import panels as dashboard_panels
from dashboards.query import substitute
from loadtests import report
from loadtests.analysis import results
from loadtests.analysis.records import Cell
from loadtests.prometheus import hook as prometheus_hook
from loadtests.prometheus import panels as seam
from loadtests.prometheus import relay as relays
from loadtests.report import panels as report_panels
from loadtests.scenarios import SCENARIOS
from loadtests.sweep import cli
from loadtests.sweep.main import Beside, beside
from tests.browser import check_page
from tests.loadtests import results_json
from tests.loadtests.conftest import DATA, a_cell, run_sweep

STORED = DATA / "results-prometheus.json"
TINY = [
    "--servers",
    "uvicorn",
    "--workers",
    "1",
    "--scenarios",
    "async-api",
    "async-fanout",
    "--users",
    "10",
    "--warmup",
    "1",
    "--duration",
    "3",
    "--repeats",
    "1",
]


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


# --- the relay's labelling -------------------------------------------------------------------


EXPOSITION = """# HELP http_requests Requests.
# TYPE http_requests counter
http_requests_total{route="/a/",code="200"} 3.0
http_requests_created{route="/a/",code="200"} 1.7e+09
# TYPE up_since gauge
up_since 12.5
empty_labels{} 1
already{job="theirs",x="1"} 2
spaced{ a = "b" } 4 1700000000000
"""


def test_every_sample_gets_the_cells_job():
    text = relays.with_job(EXPOSITION, "django:uvicorn/2/async-api")
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    assert len(samples) == 6
    jobs = {s.name: s.labels["job"] for s in samples}
    assert jobs.pop("already") == "theirs", "a job the target sets is left alone"
    assert set(jobs.values()) == {"django:uvicorn/2/async-api"}
    assert "# HELP http_requests Requests." in text
    by_name = {s.name: s for s in samples}
    assert by_name["http_requests_total"].labels == {
        "job": "django:uvicorn/2/async-api",
        "route": "/a/",
        "code": "200",
    }
    assert by_name["up_since"].value == 12.5
    assert by_name["spaced"].timestamp == 1700000000


def test_a_job_with_quotes_stays_one_label():
    text = relays.with_job("m 1\n", 'a"b\\c')
    (sample,) = next(iter(text_string_to_metric_families(text))).samples
    assert sample.labels == {"job": 'a"b\\c'}


def test_samples_get_no_timestamp_of_the_relays():
    # Prometheus marks stale only the series whose samples carry no timestamp.
    text = relays.with_job('a 1\nb{x="}"} 2\nc 3 1700000000000\n', "j")
    samples = {s.name: s for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples["a"].timestamp is None
    assert samples["b"].labels == {"job": "j", "x": "}"}
    assert samples["b"].timestamp is None
    assert samples["c"].timestamp == 1700000000, "a timestamp the target gave is kept"


class Backend(BaseHTTPRequestHandler):
    """A target whose /metrics answers after ``delay`` seconds."""

    delay = 0.0

    def do_GET(self):
        time.sleep(self.delay)
        body = b"# TYPE hits gauge\nhits 7\n# HELP done Done.\n# TYPE done counter\ndone_total 3\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def backend():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    Backend.delay = 0.0


def scraped(answer: httpx.Response) -> list:
    return [s for f in text_string_to_metric_families(answer.text) for s in f.samples]


def relay_scrape(relay) -> httpx.Response:
    return httpx.get(f"http://{relay.address}/django/metrics", timeout=2)


def test_a_scrape_reads_the_target_then_and_never_waits_long_for_a_slow_one(backend):
    relay = relays.ScrapeRelay(("django",), interval=1.0, timeout=5)
    patience = relays.ANSWER_WITHIN * relay.interval
    try:
        assert relay_scrape(relay).status_code == 503, "no target yet: down"
        relay.point("django", f"http://127.0.0.1:{backend.server_address[1]}", "django:cell")
        asked = time.time()
        answer = relay_scrape(relay)
        assert answer.status_code == 200, "a quick target's copy comes with the scrape itself"
        assert relay.read_started_after("django", asked - 0.001) is not None
        samples = {s.name: s for s in scraped(answer)}
        assert set(samples) == {"hits", "done_total"}
        assert samples["hits"].labels == {"job": "django:cell"}
        assert samples["hits"].timestamp is None, "Prometheus stamps it: the scrape's own time"
        Backend.delay = 2.5  # an event loop stalled behind blocking requests
        time.sleep(0.1)
        answer = relay_scrape(relay)
        assert answer.elapsed.total_seconds() < patience + 0.4, "within the scrape timeout"
        assert answer.status_code == 200, "meanwhile the latest copy"
        # Served again: the gauge holds, the counter is left out (no increase at this scrape).
        assert {s.name for s in scraped(answer)} == {"hits"}
        relay.clear("django")
        assert relay_scrape(relay).status_code == 503
    finally:
        relay.close()


# --- without a binary, or turned off ---------------------------------------------------------


def test_without_prometheus_the_sweep_says_so_once_and_goes_on(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(prometheus_hook.shutil, "which", lambda name: None)
    hook = Beside(True)
    assert hook("locust_env") == {}, "the Locust exporter stays off"
    record = results.load(STORED)
    meta = record.meta
    meta.notes, meta.prometheus = [], None
    hook("start", tmp_path, meta)
    hook("targets", tmp_path, "uvicorn/1/async-api", {"app": "http://127.0.0.1:9"})
    cell = a_cell(windows=[])
    assert hook("cell_done", tmp_path, cell) is None
    assert hook("finish", tmp_path, record) is None
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


# --- from evaluate_panels' answer to the seam's panels ----------------------------------------


def test_evaluated_panels_become_one_group_per_cell():
    evaluated = {
        "window": {"start": 100.0, "end": 110.0, "step": 1.0, "rate_interval": "4s"},
        "variables": {"job": "django:c", "locust_job": "locust:c", "route": ".*"},
        "panels": {
            "active_requests": {
                "title": "Requests in flight",
                "description": "d",
                "unit": "short",
                "kind": "timeseries",
                "queries": [
                    {
                        "ref_id": "A",
                        "expr": "e",
                        "legend": "{{m}}",
                        "series": [
                            {"name": "GET", "points": [[100, 1.2345678], [101, None]]},
                            {"name": "POST", "points": [[100, None]]},
                        ],
                    }
                ],
            },
            "loop_lag_max": {
                "title": "t",
                "description": "d",
                "unit": "s",
                "kind": "timeseries",
                "queries": [{"ref_id": "A", "expr": "e", "legend": "", "series": []}],
            },
        },
    }
    cell = a_cell(workers=2)
    (panel,) = seam.seam_panels(evaluated, cell, [[102.5, 104.5]])
    assert panel["cell"] == "uvicorn/2/async-api"
    assert panel["group"] == "async-api on uvicorn, 2 workers"
    assert panel["series"] == [
        {"label": "GET", "ref_id": "A", "points": [[100, 1.23457], [101, None]]}
    ]
    assert panel["spans"] == [[102.5, 104.5]]
    assert panel["origin"] == 102.5
    assert panel["queries"] == [{"ref_id": "A", "expr": "e", "legend": "{{m}}"}]


# --- a stored sweep with panels: the report alone ----------------------------------------------


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


# --- a tiny sweep, with a real Prometheus ----------------------------------------------------


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory) -> Path:
    """uvicorn, one worker, the async view and the async fan-out, a 3 s window each."""
    out = tmp_path_factory.mktemp("reports")
    done = run_sweep("--out", str(out), "--run-id", "tiny", *TINY, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "tiny"


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
