"""``make locust``'s defaults: one scenario at a time (never the anti-pattern unless named), the
sweep's users and its connection behaviour; the headless run and the web UI both checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from loadtests import locust_options
from loadtests.scenarios import SCENARIOS
from loadtests.sweep.plan import PROFILES, CellPlan
from loadtests.wait import wait_until
from mysite.launcher import LOOPBACK, free_port, serve
from tests.loadtests.conftest import ROOT

ENV = {**os.environ, "LOCUST_EXPORTER_PORT": "0"}  # never the exporter's fixed port in tests


def conf() -> dict[str, str]:
    lines = (ROOT / "loadtests" / "locust.conf").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_locust_conf_matches_the_sweep():
    """The same users and connection behaviour as a cell of `make bench`, so numbers compare."""
    assert int(conf()["users"]) == PROFILES["default"].users
    sweep_new_connections = CellPlan.__dataclass_fields__["new_connections"].default
    assert (conf()["new-connections"] == "true") is sweep_new_connections


def test_the_default_scenario_is_not_the_anti_pattern():
    assert SCENARIOS[locust_options.DEFAULT_SCENARIO].view != "async-blocking"


def test_the_custom_options_show_their_defaults(capsys):
    with pytest.raises(SystemExit):
        locust_options.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for option in ("--delay", "--fanout", "--new-connections"):
        assert option in out
    assert f"(default: {locust_options.LOAD_DELAY_S})" in out
    assert f"(default: {locust_options.LOAD_FANOUT})" in out


@pytest.fixture(scope="module")
def app(upstream):
    # No Django checks before each start: tests/demo/test_checks.py tests them.
    env = {"UPSTREAM_URL": f"{upstream.url}/api/"}
    with serve("uvicorn", 1, env=env, system_checks=False) as running:
        yield running


def make_locust(app, *locust_args: str, **popen) -> subprocess.Popen:
    port = app.url.rpartition(":")[2]
    argv = ["make", "-s", "locust", f"PORT={port}", f"LOCUST_ARGS={' '.join(locust_args)}"]
    return subprocess.Popen(argv, cwd=ROOT, env=ENV, start_new_session=True, text=True, **popen)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.live
def test_a_headless_run_of_the_defaults_runs_one_scenario(app, tmp_path: Path):
    stats = tmp_path / "stats"
    process = make_locust(
        app,
        "--headless",
        "-t",
        "4s",
        "--only-summary",
        "--json-file",
        str(stats),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        out, _ = process.communicate(timeout=90)
    finally:
        stop(process)
    assert process.returncode == 0, out[-2000:]
    entries = json.loads(stats.with_suffix(".json").read_text())
    default = SCENARIOS[locust_options.DEFAULT_SCENARIO]
    assert [e["name"] for e in entries] == [default.path]
    assert entries[0]["num_requests"] > 0
    assert entries[0]["num_failures"] == 0


@pytest.mark.live
def test_the_web_ui_of_the_defaults_runs_one_scenario_with_the_sweeps_users(app):
    port = free_port()
    process = make_locust(
        app,
        "--web-port",
        str(port),
        "--autostart",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://{LOOPBACK}:{port}"

    def stats_when_all_users_run() -> dict | None:
        try:
            with urllib.request.urlopen(f"{base}/stats/requests", timeout=2) as response:
                stats = json.load(response)
        except OSError:
            return None
        done = stats.get("user_count") == int(conf()["users"]) and stats["stats"][0]["num_requests"]
        return stats if done else None

    try:
        stats = wait_until(stats_when_all_users_run, 60)
        assert stats is not None, "the web UI never ran the configured users"
        names = {s["name"] for s in stats["stats"]} - {"Aggregated"}
        assert names == {SCENARIOS[locust_options.DEFAULT_SCENARIO].path}
        with urllib.request.urlopen(f"{base}/", timeout=5) as response:
            page = response.read().decode()
        assert '"new_connections"' in page
    finally:
        stop(process)
