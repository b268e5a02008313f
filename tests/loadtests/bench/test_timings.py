"""``loadtests.bench.timings``'s two commands run end to end and print their tables (figures
are not judged here: they belong in benchmarks and closing notes, not in timed unit tests)."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.live


def run(*argv: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", *argv], capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_fanout_prints_a_row_per_view():
    out = run(
        "loadtests.bench.timings", "fanout", "--delay", "0.05", "--fanout", "3", "--repeats", "1"
    )
    rows = [line for line in out.splitlines() if line.startswith("| `/")]
    assert [row.split("`")[1] for row in rows] == [
        "/async/api_aggregated/",
        "/sync/api_aggregated/",
        "/sync/api_sequential/",
    ]


def test_transport_prints_both_transports_and_their_ratio():
    out = run(
        "loadtests.bench.timings", "transport", "--calls", "40", "--fanout", "20", "--rounds", "1"
    )
    assert "| httpx |" in out
    assert "| aiohttp |" in out
    ratio = float(out.split("CPU ratio: ")[1].split("x")[0])
    assert ratio > 0
