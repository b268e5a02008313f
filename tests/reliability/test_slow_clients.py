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

from loadtests.model.experiment import THREAD_PER_CONNECTION
from loadtests.sweep.slowclients import (
    SHORT_SLOW_CLIENTS,
    USER_TIMEOUT,
    describe_window,
    short_run,
)
from mysite.servers import DEFAULT_THREADS, SERVER_KINDS

pytestmark = pytest.mark.live

# Each kind is measured calm and at the count it is asserted at: a thread-per-connection server
# is held by the short form's slow connections (more than its threads); the others must shrug
# off four times as many.
CALM = 0
MANY = 4 * SHORT_SLOW_CLIENTS


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_normal_users_as_slow_clients_grow(kind, tmp_path, figure):
    held = kind in THREAD_PER_CONNECTION
    counts = (CALM, SHORT_SLOW_CLIENTS if held else MANY)
    run = short_run(kind, DEFAULT_THREADS, tmp_path, ready_timeout=60, counts=counts)
    assert run.error is None, run.error
    windows = run.windows
    figure(
        f"{kind} ({run.workers} workers), {run.users} normal users",
        "; ".join(map(describe_window, windows)),
    )
    calm, crowded = windows
    assert calm.failures == 0
    assert calm.rps > 50
    if held:
        # Its threads are held: normal users get (almost) nothing, or wait out their timeout.
        assert crowded.rps < 0.1 * calm.rps, crowded
        assert crowded.failures > 0 or (crowded.p99_ms or 0) > USER_TIMEOUT * 500, crowded
    else:
        assert crowded.failures == 0, crowded
        assert crowded.rps > 0.3 * calm.rps, crowded
        assert crowded.p99_ms < 1000, crowded
