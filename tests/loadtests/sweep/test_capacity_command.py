"""``make capacity MATCH=<regex> REPEATS=<n> INSTRUMENTATION=<list>``: what it refuses before
anything starts, and the sweep options it becomes."""

from __future__ import annotations

import subprocess

import pytest

from loadtests.sweep.cli import parse_args
from tests.loadtests.conftest import ROOT

CAPACITY = ["capacity", "--profile", "full"]


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_options_make_capacity_passes():
    args = parse_args(
        [
            *CAPACITY,
            "--capacity-match",
            "^gunicorn-gthread/1x8/sync-api$",
            "--capacity-repeats",
            "3",
            "--instrumentation",
            "none,lab,django-prometheus,opentelemetry",
        ]
    )
    assert args.command == "capacity"
    assert args.capacity
    assert args.stacks == ["none", "lab", "django-prometheus", "opentelemetry"]
    assert args.capacity_repeats == 3
    assert not args.server_life
    assert not args.db_compare


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--capacity-match", "gthread/(1x8"], "--capacity-match is not a regular expression"),
        (["--capacity-match", "^no-such-server/"], "matches no configuration of the full profile"),
        (["--capacity-match", "gthread", "--capacity-repeats", "0"], "must be positive"),
        (
            ["--capacity-match", "gthread", "--instrumentation", "lab,jaeger"],
            "--instrumentation: unknown instrumentation 'jaeger'; choose from none, lab",
        ),
    ],
)
def test_bad_arguments_are_refused_with_a_reason(options, message, capsys):
    with pytest.raises(SystemExit):
        parse_args([*CAPACITY, *options])
    assert message in capsys.readouterr().err


def test_make_capacity_needs_a_match_and_refuses_an_unknown_instrumentation():
    missing = make("capacity")
    assert missing.returncode != 0
    assert "make capacity needs MATCH=<regular expression>" in missing.stdout + missing.stderr
    other = make("capacity", "MATCH=^uvicorn/1x8/async-api$", "INSTRUMENTATION=lab,jaeger")
    assert other.returncode != 0
    assert "unknown instrumentation 'jaeger'" in other.stderr
    bad = make("capacity", "MATCH=uvicorn/(1x8", "REPEATS=2")
    assert bad.returncode != 0
    assert "--capacity-match is not a regular expression" in bad.stderr
