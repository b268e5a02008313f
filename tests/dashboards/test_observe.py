"""``make observe`` says how to bring up a target that is down (a real Prometheus, no target up)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from dashboards.observe import BRING_UP
from mysite.launcher import LOOPBACK, free_port

from .conftest import ROOT

pytestmark = pytest.mark.live


def test_a_down_target_comes_with_how_to_bring_it_up(prometheus_binary, tmp_path):
    # Ports nobody listens on: every target is down.
    app, upstream, locust = (f"{LOOPBACK}:{free_port()}" for _ in range(3))
    argv = [sys.executable, "-m", "dashboards.observe", "--port", str(free_port())]
    argv += ["--app", app, "--upstream", upstream, "--locust", locust]
    argv += ["--data-dir", str(tmp_path / "prometheus")]
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(": down" in line for line in lines) < 3:
            time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(timeout=10)
        process.stdout.close()
    down = [line for line in lines if ": down" in line]
    assert len(down) == 3, "".join(lines)
    for hint in BRING_UP.values():
        assert sum(hint in line for line in down) == 1, "".join(lines)
