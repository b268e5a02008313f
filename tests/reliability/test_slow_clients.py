"""Slow clients, measured on every server kind: N connections trickle their request headers
while four normal users keep going; what the normal users get as N grows.

gunicorn's gthread worker hands each connection to a thread that reads the request with a
blocking read: a handful of slow connections hold every thread and nobody else is served.
uvicorn (also under gunicorn) and granian read requests on an event loop or Rust's I/O, and
only a complete request takes a worker's attention. Advice (docs/SERVER_LIFE.md): put a
buffering proxy (nginx) in front of a thread-per-connection server.

The measurement is the sweep's (``loadtests.sweep.slowclients``); its short form (N = 0 and one
N > 0) is a phase of ``--profile full``.
"""

import pytest

from loadtests.sweep.slowclients import (
    THREAD_PER_CONNECTION,
    USER_TIMEOUT,
    describe_window,
    short_run,
)
from mysite.servers import DEFAULT_THREADS, SERVER_KINDS

pytestmark = pytest.mark.live

SLOW_CLIENTS = (0, 50, 200)


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_normal_users_as_slow_clients_grow(kind, tmp_path, figure):
    run = short_run(kind, DEFAULT_THREADS, tmp_path, ready_timeout=60, counts=SLOW_CLIENTS)
    assert run.error is None, run.error
    windows = run.windows
    figure(f"{kind} ({run.workers} workers), {run.users} normal users",
           "; ".join(map(describe_window, windows)))  # fmt: skip
    calm, crowded = windows[0], windows[-1]
    assert calm.failures == 0
    assert calm.rps > 50
    if kind in THREAD_PER_CONNECTION:
        # Its threads are held: normal users get (almost) nothing, or wait out their timeout.
        middle = windows[1]
        assert middle.rps < 0.1 * calm.rps, middle
        assert middle.failures > 0 or (middle.p99_ms or 0) > USER_TIMEOUT * 500, middle
    else:
        assert crowded.failures == 0, crowded
        assert crowded.rps > 0.3 * calm.rps, crowded
        assert crowded.p99_ms < 1000, crowded
