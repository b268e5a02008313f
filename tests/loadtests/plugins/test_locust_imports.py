"""What a Locust process imports: every run of the sweep starts one, and its imports are on the
way to the run's first request (Locust and the server start together; the later one is waited
for)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROBE = """
import sys
import loadtests.locustfile
print(sorted(name for name in sys.modules if name.split(".")[0] == "scipy"))
"""


def test_the_locustfile_imports_no_scipy():
    """scipy.stats (the analysis's t quantile) was most of the locustfile's imports, and no
    Locust plugin uses it: it is imported where the quantile is computed."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
