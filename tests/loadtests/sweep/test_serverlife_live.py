"""The server-life phase, live and small: ``python -m loadtests.sweep --profile full
--server-life-only`` in this process, with 100 requests in flight instead of 1,000, two of
its cases (the async ORM and the native path: the contrast the report draws; every case is
tests/reliability/test_inflight_cost.py's) and two server kinds for the slow clients; then the
records in results.json and the report's two sections, generated from them.

What it shows at this size as at full size: the async ORM blocks a thread per in-flight query
and the native path none; gunicorn gthread is held by slow clients and uvicorn is not. Nothing
is left running: no child process, no PostgreSQL (the phase's throwaway cluster is gone).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil
import pytest

from loadtests.report import inflight as inflight_report
from loadtests.report import slowclients as slowclients_report
from loadtests.report.inflight import WAITS_SHARE
from loadtests.sweep import inflight, main, serverlife
from tests.loadtests.results_json import load

pytestmark = pytest.mark.live

IN_FLIGHT = 100
CASES = [
    c
    for c in inflight.CASES
    if c.path in ("/async/db/", "/async/db_native/") and c.server == "uvicorn"
]
KINDS = ("uvicorn", "gunicorn-gthread")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("serverlife")
    urls: list[str] = []
    real_database = serverlife.database

    @contextlib.contextmanager
    def database(wanted):
        with real_database(wanted) as url:
            urls.append(url)
            yield url

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inflight, "WANTED", IN_FLIGHT)
        patch.setattr(inflight, "CASES", tuple(CASES))
        patch.setattr(serverlife, "SERVER_KINDS", KINDS)
        patch.setattr(serverlife, "database", database)
        # The session's own children (fixtures of other modules) are not the run's to stop.
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        began = time.monotonic()
        code = main.main(
            [
                "--profile",
                "full",
                "--server-life-only",
                "--no-prometheus",
                "--out",
                str(out),
                "--run-id",
                "life",
            ]
        )
        seconds = time.monotonic() - began
    return {"dir": out / "life", "code": code, "seconds": seconds, "urls": urls, "before": before}


def test_the_phase_records_every_case_and_leaves_nothing_running(run):
    assert run["code"] == 0
    assert run["seconds"] < 180
    data = load(run["dir"] / "results.json")
    assert data["meta"]["status"] == "complete"
    assert data["cells"] == []
    assert "capacity" not in data or data["capacity"] == []  # --server-life-only: no map
    costs = {c["path"]: c for c in data["inflight"]}
    assert set(costs) == {c.path for c in CASES}
    for cost in costs.values():
        assert "error" not in cost, cost
        assert cost["ok"] == cost["concurrency"] == IN_FLIGHT
    assert costs["/async/db/"]["db_pool_size"] == IN_FLIGHT
    orm, native = costs["/async/db/"], costs["/async/db_native/"]
    blocked = orm["peak_threads_blocked"] - orm["idle_threads_blocked"]
    assert blocked > WAITS_SHARE * orm["peak_queries_in_flight"], orm
    assert native["peak_threads_blocked"] - native["idle_threads_blocked"] <= 2, native
    assert native["peak_queries_in_flight"] > IN_FLIGHT / 4, native
    runs = {r["server"]: r for r in data["slow_clients"]}
    assert set(runs) == set(KINDS)
    assert [w["slow_clients"] for w in runs["uvicorn"]["windows"]] == [0, 50]
    gthread = runs["gunicorn-gthread"]["windows"]
    assert gthread[1]["rps"] < 0.1 * gthread[0]["rps"], gthread
    # No process of the run is left: children, and the throwaway PostgreSQL.
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in run["before"]]
    assert left == []
    (url,) = run["urls"]
    socket_dir = Path(parse_qs(urlsplit(url).query)["host"][0])
    assert not socket_dir.exists()


def test_the_report_says_it_from_the_records(run):
    summary = (run["dir"] / "summary.md").read_text()
    page = (run["dir"] / "report.html").read_text()
    data = json.loads((run["dir"] / "results.json").read_text())
    assert f"## {inflight_report.TITLE}" in summary
    assert f"## {slowclients_report.TITLE}" in summary
    assert f"<h2>{inflight_report.TITLE}</h2>" in page
    native = next(c for c in data["inflight"] if c["path"] == "/async/db_native/")
    assert (
        f"at most {native['peak_queries_in_flight']:,} queries ran in PostgreSQL at once" in summary
    )
    assert (
        f"{native['peak_threads_blocked'] - native['idle_threads_blocked']:,} of the worker's "
        "threads were blocked: no thread waits for its query" in summary
    )
    assert "Who holds a thread per connection: gunicorn-gthread." in summary
    assert "put a buffering reverse proxy" in summary
