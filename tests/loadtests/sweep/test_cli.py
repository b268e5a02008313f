"""The sweep's command line: safety first, then which cells it plans and how long they take."""

import pytest

from loadtests.sweep import cli
from loadtests.sweep.capacity_plan import TIME_LIMITS
from loadtests.sweep.db_compare import PLANS
from loadtests.sweep.plan import from_args


def test_a_remote_host_is_refused_without_the_flag(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["--host", "http://example.com:8000"])
    assert "--allow-remote-host" in capsys.readouterr().err
    args = cli.parse_args(["--host", "http://example.com:8000", "--allow-remote-host"])
    assert args.host == "http://example.com:8000"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:80"]
)
def test_loopback_hosts_need_no_flag(url):
    assert cli.parse_args(["--host", url]).host == url


def test_remote_workers_need_a_reachable_master_and_target(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["--remote-workers", "2"])
    err = capsys.readouterr().err
    assert "--master-bind-host" in err
    assert "needs --host" in err


def test_cells_can_be_picked_one_by_one():
    _, plans = from_args(cli.parse_args(["--cell", "gunicorn-gthread:4:sync-api"]))
    assert [p.key for p in plans] == ["gunicorn-gthread/4/sync-api"]
    with pytest.raises(SystemExit):
        cli.parse_args(["--cell", "apache:1:sync-api"])


def test_the_matrix_follows_the_command_line():
    args = cli.parse_args(
        ["--servers", "uvicorn", "--workers", "1", "2", "--scenarios", "async-api"]
    )
    _, plans = from_args(args)
    assert [p.key for p in plans] == ["uvicorn/1/async-api", "uvicorn/2/async-api"]


def test_the_default_profile_plans_the_headline_comparisons_within_its_budget():
    profile, plans = from_args(cli.parse_args([]))
    keys = {(p.server, p.workers, p.scenario) for p in plans}
    # Sync against async at a fixed concurrency, and the fan-out styles; the server kinds and
    # worker counts are the capacity map's (tests/loadtests/sweep/test_capacity_plan.py).
    assert {("uvicorn", 1, "sync-api"), ("uvicorn", 1, "async-api")} <= keys
    assert {s for _, _, s in keys} >= {"async-fanout", "thread-fanout"}, "the fan-out styles"
    assert all(p.restart_per_repeat and p.repeats >= 3 for p in plans), "fresh runs for CIs"
    # ~3.5 s to start and stop a server and Locust on a quiet two-core machine.
    assert sum(p.estimate(3.5) for p in plans) < profile.time_limit
    # The three phases at their time limits (the database comparison at its estimate, with
    # 5 s per start), and set-up (26 s measured on a fresh clone: uv sync, the package check,
    # the system checks; 40 allowed), within make bench's 5 minutes.
    args = cli.parse_args([])
    assert args.capacity
    assert args.db_compare
    compare = PLANS["default"].estimate(5.0)
    assert profile.time_limit + compare + TIME_LIMITS["default"] + 40 <= 5 * 60


def test_a_configuration_named_twice_is_two_cells():
    _, plans = from_args(
        cli.parse_args(["--cell", "uvicorn:1:async-api", "--cell", "uvicorn:1:async-api"])
    )
    assert [p.key for p in plans] == ["uvicorn/1/async-api", "uvicorn/1/async-api#2"]
    assert len({p.slug for p in plans}) == 2


def test_runs_are_interleaved_across_cells():
    from loadtests.sweep.progress import interleaved

    _, plans = from_args(
        cli.parse_args(["--cell", "uvicorn:1:async-api", "--cell", "uvicorn:1:sync-api"])
    )
    order = [(r.plan.scenario, r.index) for r in interleaved(plans)]
    assert order == [
        ("async-api", 0),
        ("sync-api", 0),
        ("async-api", 1),
        ("sync-api", 1),
        ("async-api", 2),
        ("sync-api", 2),
    ]
