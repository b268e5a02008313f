"""Locust's command line for a run: every set option once with its value, the user class last."""

from pathlib import Path

from loadtests.sweep.generator import Generator, LoadRun, master_argv, worker_argv


def options(argv: list[str]) -> dict[str, str | None]:
    """``--flag value`` pairs, and ``--flag`` alone as None."""
    out: dict[str, str | None] = {}
    for i, token in enumerate(argv):
        if token.startswith("-") and token != "-m":
            following = argv[i + 1] if i + 1 < len(argv) else ""
            out[token] = None if following.startswith("-") else following
    return out


RUN = LoadRun(
    host="http://127.0.0.1:8001",
    user_class="AsyncApiUser",
    users=8,
    delay=0.2,
    fanout=1,
    warmup=1.5,
    window=2.0,
    count=3,
    out=Path("/tmp/run1.json"),
)


def test_a_local_run_sets_only_what_it_has():
    argv = master_argv(Generator(), RUN, 5557)
    got = options(argv)
    assert argv[-1] == "AsyncApiUser"
    expected = {"-u": "8", "-r": "8", "--window-count": "3", "--headless": None}
    expected["--window-scrape"] = "http://127.0.0.1:8001/metrics"
    assert got.items() >= expected.items()
    for unset in ("--window-jitter", "--window-ready", "--new-connections", "--html", "--master"):
        assert unset not in got


def test_a_distributed_run_with_its_artifacts_and_stagger():
    run = LoadRun(
        **{**RUN.__dict__, "stagger_s": 0.2, "new_connections": True, "artifacts": "/a/r"}
    )
    got = options(master_argv(Generator(local_workers=2, remote_workers=1), run, 5557))
    expected = {"--window-jitter": "0.2", "-r": "40", "--new-connections": None, "--master": None}
    expected |= {"--html": "/a/r.html", "--csv": "/a/r"}
    expected |= {"--master-bind-port": "5557", "--expect-workers": "3"}
    assert got.items() >= expected.items()
    worker = options(worker_argv(Generator(local_workers=2), 5557))
    assert worker.items() >= {"--worker": None, "--master-port": "5557"}.items()
