"""Locust's command line for a run: every set option once with its value, the user class last."""

import dataclasses
from pathlib import Path

from loadtests.sweep.generator import Generator, LoadRun, as_master, master_argv, worker_argv
from loadtests.sweep.plan import CellPlan


def options(argv: list[str]) -> dict[str, str | None]:
    """``--flag value`` pairs, and ``--flag`` alone as None."""
    out: dict[str, str | None] = {}
    for i, token in enumerate(argv):
        if token.startswith("-") and token != "-m":
            following = argv[i + 1] if i + 1 < len(argv) else ""
            out[token] = None if following.startswith("-") else following
    return out


PLAN = CellPlan("uvicorn", 1, "async-api", 8, 0.2, 1, 1, 1.5, 2.0, 3, new_connections=False)
RUN = LoadRun(PLAN, "http://127.0.0.1:8001", Path("/tmp/run1.json"), 3)


def test_a_local_run_sets_only_what_it_has():
    argv = as_master(Generator(), master_argv(Generator(), RUN), 5557)
    got = options(argv)
    assert argv[-1] == "AsyncApiUser"
    expected = {"-u": "8", "--window-count": "3", "--headless": None}
    expected["--window-scrape"] = "http://127.0.0.1:8001/metrics"
    # Locust's own report beside the run's windows; users spread over one service time.
    expected |= {"--html": "/tmp/run1-locust.html", "--csv": "/tmp/run1-locust"}
    expected |= {"--window-jitter": "0.2", "-r": "40", "--delay": "0.2"}
    assert got.items() >= expected.items()
    for unset in ("--window-ready", "--new-connections", "--master", "--expect-workers"):
        assert unset not in got


def test_a_distributed_run_is_a_master_that_waits_for_its_ready_flag():
    plan = dataclasses.replace(PLAN, new_connections=True)
    run = LoadRun(plan, RUN.host, RUN.out, 3, ready_url="file:///tmp/run1.ready")
    gen = Generator(local_workers=2, remote_workers=1)
    argv = as_master(gen, master_argv(gen, run), 5557)
    assert argv[-1] == "AsyncApiUser", "the user class stays last"
    got = options(argv)
    expected = {"--window-ready": "file:///tmp/run1.ready", "--new-connections": None}
    expected |= {"--master": None, "--master-bind-port": "5557", "--expect-workers": "3"}
    assert got.items() >= expected.items()
    worker = options(worker_argv(Generator(local_workers=2), 5557))
    assert worker.items() >= {"--worker": None, "--master-port": "5557"}.items()
