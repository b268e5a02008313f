"""The ceilings the report compares measurements with."""

import os
import subprocess
import sys

import pytest

from loadtests.model.experiment import UPSTREAM_POOL_SIZE
from loadtests.scenarios import SCENARIOS
from loadtests.sweep.generator import LOCUSTFILE


def model(name, server, workers, users=32, delay=0.2, fanout=5, threads=8):
    return SCENARIOS[name].model(
        server, workers, threads, users, delay, fanout, UPSTREAM_POOL_SIZE
    )[0]


def test_littles_law_ceilings():
    assert SCENARIOS["async-api"].littles_law_rps(32, 0.2, 5) == pytest.approx(160)
    assert SCENARIOS["async-fanout"].littles_law_rps(32, 0.2, 5) == pytest.approx(160)
    assert SCENARIOS["sequential"].littles_law_rps(32, 0.2, 5) == pytest.approx(32)


def test_gthread_threads_bound_every_view():
    for name in ("sync-api", "async-api", "async-blocking", "sequential"):
        service = SCENARIOS[name].service_time(0.2, 5)
        assert model(name, "gunicorn-gthread", 1) == pytest.approx(8 / service)
    assert model("sync-api", "gunicorn-gthread", 4) == pytest.approx(160)  # users bind first


def test_asgi_blocks_only_in_the_anti_pattern():
    assert model("sync-api", "uvicorn", 1) == pytest.approx(160)
    assert model("async-api", "gunicorn-uvicorn", 1) == pytest.approx(160)
    assert model("async-blocking", "uvicorn", 2) == pytest.approx(10)


def test_fanouts_share_the_worker_pool():
    # 32 users x 10 calls > 100 pooled connections: 10 requests at a time per worker.
    assert model("async-fanout", "uvicorn", 1, fanout=10) == pytest.approx(50)
    assert model("async-fanout", "uvicorn", 4, fanout=10) == pytest.approx(160)


def test_every_scenario_has_a_user_class_in_the_locustfile():
    """Made from the table: Locust lists each scenario's class (and the open model's idler)."""
    env = {**os.environ, "LOCUST_EXPORTER_PORT": "0"}
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--list"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=True)
    listed = set(done.stdout.split())
    assert {s.user_class for s in SCENARIOS.values()} | {"OpenModelUser"} <= listed
    assert "LabUser" not in listed, "the abstract base is no scenario"
