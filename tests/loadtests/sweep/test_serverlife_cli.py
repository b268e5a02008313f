"""The server-life phase on the command line: on by default in the full profile only, never
against --host, and --server-life-only measures nothing else."""

from __future__ import annotations

import pytest

from loadtests.sweep.cli import parse_args
from loadtests.sweep.serverlife import RUN_BY_DEFAULT


def test_on_by_default_in_the_full_profile_only():
    assert RUN_BY_DEFAULT == ("full",)
    assert parse_args(["--profile", "full"]).server_life is True
    assert parse_args([]).server_life is False
    assert parse_args(["--profile", "smoke"]).server_life is False
    assert parse_args(["--profile", "full", "--no-server-life"]).server_life is False
    assert parse_args(["--server-life"]).server_life is True
    # Against a running app the sweep starts no server of its own.
    assert parse_args(["--profile", "full", "--host", "http://127.0.0.1:8000"]).server_life is False


def test_server_life_only_skips_the_capacity_map_and_refuses_a_host(capsys):
    assert parse_args(["--profile", "full", "--server-life-only"]).capacity is False
    with pytest.raises(SystemExit):
        parse_args(["--server-life-only", "--host", "http://127.0.0.1:8000"])
    assert "--server-life-only starts servers of its own" in capsys.readouterr().err
