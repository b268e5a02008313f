"""The longest legitimate request, computed from the settings (mysite.bounds), and the graceful
stop every server kind is given from it (mysite.shutdown, mysite.servers)."""

import json
import os
import subprocess
import sys

import pytest
from django.test import override_settings

from mysite import bounds
from mysite.demo.params import MAX_DELAY
from mysite.servers import SERVER_KINDS, server_argv
from mysite.shutdown import AT_DEFAULTS, LIFESPAN_MARGIN, LONGEST_REQUEST, StopTimes
from tests.demo.test_checks import errors_with

SETTINGS_READ = ("FANOUT_DEADLINE", "UPSTREAM_TIMEOUT", "DB_TIMEOUT")
GRACEFUL_FLAGS = ("--timeout-graceful-shutdown", "--graceful-timeout", "--workers-kill-timeout")


def test_at_the_default_settings_the_fanout_deadline_binds_and_the_constant_agrees():
    """A fresh process with none of the settings in its environment: settings.py's defaults."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_READ}
    env |= {"DJANGO_SETTINGS_MODULE": "mysite.settings", "DJANGO_SECRET_KEY": "k" * 50}
    script = (
        "import json; from mysite import bounds; b = bounds.from_settings(); "
        "print(json.dumps([b.sleep, b.fanout, b.database, b.longest_request]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout
    sleep, fanout, database, longest = json.loads(out)
    # delay <= 10; 3 x UPSTREAM_TIMEOUT 5; DB_TIMEOUT 5 for a connection + 5 for the statement.
    assert (sleep, fanout, database) == (MAX_DELAY, 15.0, 10.0)
    assert longest == LONGEST_REQUEST == AT_DEFAULTS.longest_request == 15.0
    assert (AT_DEFAULTS.graceful, AT_DEFAULTS.supervisor, AT_DEFAULTS.stop_grace) == (20, 25, 30)


@pytest.mark.parametrize(
    ("overrides", "longest"),
    [
        # Small settings: the sleep views' delay <= MAX_DELAY binds.
        ({"UPSTREAM_TIMEOUT": "1", "FANOUT_DEADLINE": "", "DB_TIMEOUT": 1.0}, MAX_DELAY),
        ({"UPSTREAM_TIMEOUT": "20", "FANOUT_DEADLINE": "", "DB_TIMEOUT": 1.0}, 60.0),
        ({"UPSTREAM_TIMEOUT": "20", "FANOUT_DEADLINE": "12.5", "DB_TIMEOUT": 1.0}, 12.5),
        # A statement sleeps at most delay <= 10 s, whatever DB_TIMEOUT allows.
        ({"UPSTREAM_TIMEOUT": "1", "FANOUT_DEADLINE": "", "DB_TIMEOUT": 30.0}, 40.0),
        ({"UPSTREAM_TIMEOUT": "1", "FANOUT_DEADLINE": "", "DB_TIMEOUT": 8.0}, 16.0),
    ],
)
def test_the_longest_request_follows_whichever_setting_binds(overrides, longest):
    with override_settings(**overrides):
        assert bounds.from_settings().longest_request == longest


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_every_kind_waits_at_least_the_longest_request_it_is_given(kind):
    stop = StopTimes(42.5)
    argv = server_argv(kind, workers=1, host="127.0.0.1", port=8123, threads=1, stop=stop)
    (flag,) = [flag for flag in GRACEFUL_FLAGS if flag in argv]
    waits = float(argv[argv.index(flag) + 1])
    if kind == "gunicorn-uvicorn":
        # The master's wait; the worker's own is LIFESPAN_MARGIN less (mysite.gunicorn_uvicorn).
        assert waits - LIFESPAN_MARGIN >= stop.graceful
    else:
        assert waits >= stop.graceful > stop.longest_request


@pytest.mark.parametrize("deadline", ["0", "-1", "soon", "nan", "inf"])
def test_a_fanout_deadline_that_is_not_a_positive_number_is_refused(deadline):
    errors = errors_with(FANOUT_DEADLINE=deadline)
    assert repr(deadline) in errors["demo.E006"]


def test_an_empty_fanout_deadline_is_three_upstream_timeouts():
    assert "demo.E006" not in errors_with(FANOUT_DEADLINE="")
