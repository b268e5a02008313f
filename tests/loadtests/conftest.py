"""Fixtures of the load tests' tests: a stored sweep, a way to run the sweep's command, and one
tiny live sweep that several modules read."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from loadtests.analysis.records import Cell

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).with_name("data")
STORED_RESULTS = DATA / "results.json"


@pytest.fixture
def stored_run(tmp_path: Path) -> Path:
    """A run directory holding only a stored results.json (a real run, trimmed, interrupted)."""
    run_dir = tmp_path / "stored"
    run_dir.mkdir()
    shutil.copy(STORED_RESULTS, run_dir / "results.json")
    return run_dir


def a_cell(**fields) -> Cell:
    """A measured-looking cell with the given fields, the rest plausible."""
    base = {
        "server": "uvicorn",
        "workers": 1,
        "scenario": "async-api",
        "threads": 8,
        "users": 8,
        "requests": 10,
        "failures": 0,
        "rps": 5.0,
        "latency_ms": None,
        "server_latency_ms": None,
        "littles_law_rps": 40.0,
        "efficiency": 0.125,
        "flags": [],
    }
    return msgspec.convert(base | fields, Cell)


def run_sweep(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m loadtests.sweep ARGS`` from the repository root, bounded in time."""
    return subprocess.run(
        [sys.executable, "-m", "loadtests.sweep", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# uvicorn, one worker, the async view and the async fan-out, a 3 s window each, with the
# Prometheus the sweep runs beside it by default.
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


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory) -> Path:
    """The run directory of one tiny sweep (``TINY``), shared by the modules that read it: the
    Prometheus hook's panels and Locust's own reports (one unit in tests/conftest.py, so that
    it runs once)."""
    out = tmp_path_factory.mktemp("reports")
    done = run_sweep("--out", str(out), "--run-id", "tiny", *TINY, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "tiny"
