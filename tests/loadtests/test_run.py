"""``make run`` (``python -m loadtests.run``): the fan-out views call the lab's upstream, not the
app itself, and both stop together."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from loadtests.wait import wait_until
from mysite.launcher import LOOPBACK, free_port
from tests.loadtests.conftest import ROOT

pytestmark = pytest.mark.live


def get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except OSError:
        return None


def test_make_run_serves_the_fan_out_against_the_labs_upstream():
    app_port, upstream_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "UPSTREAM_URL"}
    argv = [sys.executable, "-m", "loadtests.run", "--server", "uvicorn", "--workers", "1"]
    argv += ["--port", str(app_port), "--upstream-port", str(upstream_port)]
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    app = f"http://{LOOPBACK}:{app_port}"
    try:
        assert wait_until(lambda: get(f"{app}/healthz"), 60) is not None
        front_door = urllib.request.Request(f"{app}/", headers={"Accept": "application/json"})
        with urllib.request.urlopen(front_door, timeout=5) as response:
            listed = {route["path"] for route in json.load(response)["routes"]}
        assert {"/async/api_aggregated/", "/sync/db/", "/metrics"} <= listed
        body = get(f"{app}/async/api_aggregated/?delay=0&fanout=3")
        assert body is not None
        assert body["errors"] == []
        assert get(f"http://{LOOPBACK}:{upstream_port}/healthz") is not None
        metrics = urllib.request.urlopen(f"{app}/metrics", timeout=5).read().decode()
        assert "/sync/api/" not in {
            line.split('http_route="')[1].split('"')[0]
            for line in metrics.splitlines()
            if line.startswith("http_server_request_duration_seconds_count")
        }, "the app served its own fan-out calls"
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    assert f"{LOOPBACK}:{upstream_port}/api/" in out
    assert get(f"{app}/healthz") is None
    assert get(f"http://{LOOPBACK}:{upstream_port}/healthz") is None
