"""The locustfile on its own, as a person runs it: headless with zero failures, or the web UI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from loadtests.scenarios import SCENARIOS
from loadtests.sweep.generator import LOCUSTFILE
from loadtests.wait import wait_until
from mysite.launcher import LOOPBACK, free_port, serve
from tests.db.conftest import db_env
from tests.loadtests.conftest import ROOT

pytestmark = pytest.mark.live

# The exporter, when present, must not take its fixed port during tests.
ENV = {**os.environ, "LOCUST_EXPORTER_PORT": "0"}


@pytest.fixture(scope="module")
def app(upstream, postgres):
    """One uvicorn worker with an upstream and a PostgreSQL: every scenario has what it calls."""
    env = {"UPSTREAM_URL": f"{upstream.url}/api/", **db_env(postgres)}
    # No Django checks before each start: tests/demo/test_checks.py tests them.
    with serve("uvicorn", 1, env=env, system_checks=False) as running:
        yield running


def locust(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args]


def run_headless(app, stats, *args: str) -> subprocess.CompletedProcess:
    argv = locust("--headless", "--host", app.url, "--only-summary", "--json-file", str(stats))
    return subprocess.run(
        [*argv, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60, check=False
    )


def test_every_scenario_headless_with_zero_failures(app, tmp_path):
    classes = sorted({s.user_class for s in SCENARIOS.values()})
    users = str(len(classes))
    stats = tmp_path / "stats"
    done = run_headless(
        app,
        stats,
        "-u",
        users,
        "-r",
        users,
        "-t",
        "10s",  # every class spawned, each with time for a request on a busy machine
        "--delay",
        "0.05",
        "--fanout",
        "3",
        *classes,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    entries = {e["name"]: e for e in json.loads(stats.with_suffix(".json").read_text())}
    for scenario in SCENARIOS.values():
        entry = entries.get(scenario.path)
        assert entry is not None, f"{scenario.user_class} made no request"
        assert entry["num_requests"] > 0
        assert entry["num_failures"] == 0, done.stderr[-2000:]


def test_an_answer_the_contract_does_not_promise_is_a_failure(app, tmp_path):
    """fanout=0 is out of range: every request gets a 400, and Locust counts each a failure."""
    stats = tmp_path / "stats"
    # 8 s: on a loaded machine 2 s, and once (four test workers beside it) 4 s, of one user
    # recorded no request at all.
    done = run_headless(
        app, stats, "-u", "1", "-r", "1", "-t", "8s", "--fanout", "0", "AsyncFanoutUser"
    )
    entries = json.loads(stats.with_suffix(".json").read_text())
    assert entries, done.stderr[-2000:]
    assert all(e["num_failures"] == e["num_requests"] > 0 for e in entries)


def test_the_web_ui_starts_with_the_custom_arguments(app):
    port = free_port()
    process = subprocess.Popen(
        locust("--host", app.url, "--web-host", LOOPBACK, "--web-port", str(port)),
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def page() -> str | None:
            try:
                with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/", timeout=2) as response:
                    return response.read().decode()
            except OSError:
                return None

        page = wait_until(page, 30) or ""
        assert '"delay"' in page
        assert '"fanout"' in page
        assert "window_length" not in page, "the sweep's own arguments stay out of the UI"
    finally:
        process.terminate()
        process.wait(timeout=15)
