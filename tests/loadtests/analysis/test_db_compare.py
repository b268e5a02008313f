"""The database comparison analysed from its raw files alone: the plan and schedule, the paired
load's windows, the server's samples; each window over its measured span, idle before the load,
and the paths' contrasts paired by round."""

import json

import pytest

from loadtests.analysis import db_compare, usage
from loadtests.analysis.usage import Sample

SETTLE = 0.2
PLAN = {
    "server": "uvicorn",
    "workers": 1,
    "users": 4,
    "delay_s": 0.01,
    "rows": 10,
    "db_pool_size": 8,
    "window_s": 1.0,
    "settle_s": SETTLE,
    "rounds": 3,
    "paths": ["fast", "slow"],
}
SCHEDULE = [["fast", 0], ["slow", 0]] + [[p, r] for r in (1, 2, 3) for p in ("fast", "slow")]
URLS = {"fast": "/fast/", "slow": "/slow/"}
MS = {"fast": 10.0, "slow": 20.0}
IO = {"fast": 0, "slow": 3}  # threads in a socket wait while each path is loaded
T0 = 1000.0


def write_run(out_dir):
    windows = []
    for index, (name, _) in enumerate(SCHEDULE):
        start = T0 + index
        answers = [[URLS[name], MS[name], "", start + k / 100] for k in range(1, 100)]
        answers.append([URLS[name], 1.0, "HTTP 500", start + 0.5])
        windows.append({"path": URLS[name], "start": start, "end": start + 1, "answers": answers})
    samples = [Sample(T0 - 1 + k / 10, 0.0, 2**20, 10, 1, 1) for k in range(10)]
    for index, (name, _) in enumerate(SCHEDULE):
        for k in range(10):
            unix = T0 + index + k / 10 + 0.05  # none on a window's edge
            samples.append(Sample(unix, (unix - T0) / 2, 2**21, 20, 1, 1 + IO[name]))
    (out_dir / db_compare.SPEC).write_text(json.dumps({"plan": PLAN, "schedule": SCHEDULE}))
    (out_dir / db_compare.LOAD).write_text(json.dumps({"windows": windows}))
    usage.write(out_dir / db_compare.SAMPLES, {"server": samples})


def test_the_comparison_is_read_from_the_raw_files(tmp_path):
    write_run(tmp_path)
    compared = db_compare.read(tmp_path)
    assert compared.users == 4
    assert compared.rounds == 3
    assert compared.idle_threads == 10
    assert compared.idle_io_threads == 1
    assert [(w.path, w.round) for w in compared.windows] == [
        (p, r) for r in (1, 2, 3) for p in ("fast", "slow")
    ]
    fast, slow = compared.windows[:2]
    # The settling time's answers are left out: 80 of the 99 ok in 0.8 s, and the one error.
    assert fast.requests == 81
    assert fast.failures == 1
    assert fast.errors == {"HTTP 500": 1}
    assert fast.rps == pytest.approx(81 / 0.8)
    assert (fast.p50_ms, slow.p99_ms) == (10.0, 20.0)
    assert fast.server_cpu_percent == pytest.approx(50.0)
    assert fast.threads_above_idle == 10
    assert (fast.io_threads, slow.io_threads) == (0.0, 3.0)
    by = {(c.a, c.b, c.metric): c for c in compared.contrasts}
    assert by[("slow", "fast", "p50_ms")].value == pytest.approx(2.0)
    assert by[("slow", "fast", "io_threads")].value == pytest.approx(3.0)
    assert by[("slow", "fast", "io_threads")].pairs == 3
