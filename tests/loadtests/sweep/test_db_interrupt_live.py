"""Ctrl-C during the database comparison: the sweep stops its load, its server and the lab's
PostgreSQL it started, and keeps what it had (status interrupted). Runs only when the lab's
cluster is not already running (a `make run` elsewhere would own it, and the sweep would rightly
leave it running)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from loadtests.wait import wait_until
from mysite.db import cluster as pg

pytestmark = [pytest.mark.live, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(240)
def test_ctrl_c_in_the_comparison_stops_the_load_the_server_and_postgresql(tmp_path):
    if pg.is_running(pg.lab_cluster()):
        pytest.skip("the lab's own PostgreSQL is running already (make run?): not the sweep's")
    argv = [
        sys.executable,
        "-m",
        "loadtests.sweep",
        "--out",
        str(tmp_path),
        "--run-id",
        "cut",
        # One configuration, mapped after the comparison: the Ctrl-C comes before it.
        "--capacity-only",
        "--capacity-match",
        "^gunicorn-gthread/1x8/sync-api$",
        "--db-compare",
        "--no-prometheus",
    ]
    spec = tmp_path / "cut" / "db-comparison" / "load-spec.json"
    # The block closes the sweep's pipe however the test ends (a failed assertion left it open
    # once, and its ResourceWarning failed a later test of the same worker).
    with subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as sweep:
        try:
            wait_until(spec.exists, 150, 0.2)  # PostgreSQL and the server are up
            time.sleep(3)  # the paired load is running
            assert pg.is_running(pg.lab_cluster())
            children = psutil.Process(sweep.pid).children(recursive=True)
            names = " ".join(" ".join(p.cmdline()) for p in children)
            assert "paired_load" in names, names
            sweep.send_signal(signal.SIGINT)
            output, _ = sweep.communicate(timeout=90)
        finally:
            if sweep.poll() is None:
                sweep.kill()
                sweep.communicate()
    assert sweep.returncode == 130, output[-3000:]
    record = json.loads((tmp_path / "cut" / "results.json").read_text())
    assert record["meta"]["status"] == "interrupted"
    _, still = psutil.wait_procs(children, timeout=15)
    assert not still, f"left running: {[p.pid for p in still]}"
    assert not pg.is_running(pg.lab_cluster())
