"""The overhead benchmark runs end to end in its quick mode and reports what it promises.

Whether the middleware meets its budget is a measurement, not a test: it is in the closing
note of issue 3, from a full run of ``make bench-overhead``.
"""

import json
import math
import subprocess
import sys

import pytest

from loadtests.bench import overhead
from loadtests.observability.stacks import STACKS

pytestmark = [pytest.mark.live, pytest.mark.slow]


def test_quick_run_prints_a_table_and_writes_json(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.bench.overhead",
            "--quick",
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [written] = tmp_path.glob("*.json")
    report = json.loads(written.read_text())

    variants = list(overhead.COMPARED)
    assert set(report["summary"]) == set(overhead.ENDPOINTS)
    for endpoint, by_variant in report["summary"].items():
        assert set(by_variant) == set(variants), endpoint
        assert by_variant[overhead.BASELINE]["rps_ratio"]["median"] == 1.0
        for stats in by_variant.values():
            for key in ("rps", "rps_ratio", "per_cpu_s", "per_cpu_s_ratio"):
                for value in stats[key].values():
                    assert math.isfinite(value), (endpoint, key)
                    assert value > 0, (endpoint, key)
            assert stats["errors"] == 0
    assert len(report["runs"]) == len(overhead.ENDPOINTS) * len(variants)
    own_cpu = report["middleware_cpu_us"]
    assert set(own_cpu) == set(overhead.ENDPOINTS)
    assert all(math.isfinite(us) and us > 0 for us in own_cpu.values()), own_cpu
    assert report["meta"]["versions"]["django-prometheus"]

    # The printed table is the rendering of the JSON written.
    assert overhead.render(report) in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("| `")]
    assert len(rows) == len(overhead.ENDPOINTS) * len(variants)
    for path in overhead.ENDPOINTS.values():
        for name in overhead.COMPARED:
            assert any(f"`{path}`" in row and f"| {STACKS[name].label} |" in row for row in rows)
