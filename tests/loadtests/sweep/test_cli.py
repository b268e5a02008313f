"""The sweep's command line: safety first, which cells it plans and how long they take, then its
commands, their help, and the phases each runs."""

import dataclasses
import re
from pathlib import Path

import pytest

from loadtests import docs_tables
from loadtests.sweep import cli
from loadtests.sweep.capacity_plan import TIME_LIMITS
from loadtests.sweep.db_compare import PLANS
from loadtests.sweep.plan import from_args
from loadtests.sweep.serverlife import RUN_BY_DEFAULT


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


# --- the commands -----------------------------------------------------------------------------


def test_a_command_line_without_a_command_runs_and_the_old_mode_flags_name_their_command():
    assert cli.parse_args([]).command == "run"
    assert cli.parse_args(["--profile", "smoke"]).command == "run"
    assert cli.parse_args(["--capacity-only"]).command == "capacity"
    assert cli.parse_args(["--profile", "full", "--server-life-only"]).command == "server-life"
    for argv in (
        ["--render-only", "reports/x"],
        ["--render-only=reports/x"],
        ["render", "reports/x"],
    ):
        config = cli.parse_args(argv)
        assert (config.command, config.run_dir) == ("render", Path("reports/x"))


def options_in_help(command: str, capsys) -> set[str]:
    with pytest.raises(SystemExit) as exit:
        cli.parse_args([command, "--help"])
    assert exit.value.code == 0
    return set(re.findall(r"^  (-[\w-]+)", capsys.readouterr().out, re.MULTILINE))


def test_each_command_s_help_lists_only_its_own_options(capsys):
    shown = {command: options_in_help(command, capsys) for command in cli.COMMANDS}
    assert {"--cell", "--users", "--host", "--capacity-match", "--capacity"} <= shown["run"]
    assert "--capacity-match" in shown["capacity"]
    assert not {"--cell", "--users", "--host", "--capacity"} & shown["capacity"]
    assert "--threads" in shown["server-life"]
    assert not {"--cell", "--host", "--capacity-match"} & shown["server-life"]
    assert shown["render"] == {"-h"}
    assert "--locustfile" not in shown["run"], "a test's option, hidden"


def test_every_option_is_a_field_of_the_configuration_and_some_command_s():
    fields = {f.name for f in dataclasses.fields(cli.Config)} - {"command"}
    assert {f.name for f in cli.OPTIONS} == fields, "each field under a heading, with its help"
    commands = next(a for a in cli.parser()._actions if a.dest == "command").choices.values()
    dests = {a.dest for sub in commands for a in sub._actions}
    assert fields <= dests, "each field an option of some command"


def test_the_reference_lists_the_commands_as_the_parser_has_them():
    shown = docs_tables.shown(docs_tables.COMMANDS_BLOCK)
    assert shown == docs_tables.commands_table()
    assert "| `python -m loadtests.sweep capacity` |" in shown
    assert "`--capacity-match`" in shown.splitlines()[3]


def test_a_command_refuses_the_options_it_does_not_take(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["server-life", "--host", "http://127.0.0.1:8000"])
    assert "unrecognized arguments: --host" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parse_args(["--server-life-only", "--host", "http://127.0.0.1:8000"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--users", "0"], "argument --users: must be positive"),
        (["--db-pool-sizes", "10", "0"], "argument --db-pool-sizes: must be positive"),
        (["--distributed", "-1"], "argument --distributed: must not be negative"),
        (["--ready-timeout", "0"], "--ready-timeout must be positive"),
        (["--ready-timeout", "inf"], "--ready-timeout must be positive"),
    ],
)
def test_counts_and_timeouts_out_of_range_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(argv)
    assert message in capsys.readouterr().err
    assert cli.parse_args(["--distributed", "0"]).distributed == 0


# --- the phases each command runs -------------------------------------------------------------


def test_the_capacity_command_maps_and_adds_only_the_phases_named():
    config = cli.parse_args(["capacity", "--profile", "full"])
    assert (config.capacity, config.db_compare, config.server_life) == (True, False, False)
    config = cli.parse_args(["capacity", "--db-compare", "--server-life"])
    assert (config.capacity, config.db_compare, config.server_life) == (True, True, True)


def test_the_server_life_command_measures_nothing_else():
    config = cli.parse_args(["server-life", "--profile", "full"])
    assert (config.capacity, config.db_compare, config.server_life) == (False, False, True)


def test_the_configuration_built_in_code_resolves_its_phases_as_the_command_line_does():
    assert cli.Config(profile="full").server_life
    assert not cli.Config(profile="full", host="http://127.0.0.1:8000").server_life
    assert not cli.Config(cell=["uvicorn:1:async-api"]).capacity


def test_server_life_is_on_by_default_in_the_full_profile_only():
    assert RUN_BY_DEFAULT == ("full",)
    assert cli.parse_args(["--profile", "full"]).server_life is True
    assert cli.parse_args([]).server_life is False
    assert cli.parse_args(["--profile", "smoke"]).server_life is False
    assert cli.parse_args(["--profile", "full", "--no-server-life"]).server_life is False
    assert cli.parse_args(["--server-life"]).server_life is True
    # Against a running app the sweep starts no server of its own.
    full_host = ["--profile", "full", "--host", "http://127.0.0.1:8000"]
    assert cli.parse_args(full_host).server_life is False
    assert cli.parse_args(["--profile", "full", "--server-life-only"]).capacity is False
