"""Slow clients, measured on every server kind: N connections trickle their request headers
while four normal users keep going; what the normal users get as N grows.

gunicorn's gthread worker hands each connection to a thread that reads the request with a
blocking read: a handful of slow connections hold every thread and nobody else is served.
uvicorn (also under gunicorn) and granian read requests on an event loop or Rust's I/O, and
only a complete request takes a worker's attention. Deployment advice follows (README): put a
buffering proxy (nginx) in front of a thread-per-connection server.
"""

import pytest

from mysite.launcher import serve
from mysite.servers import SERVER_KINDS

from .slowclients import USER_TIMEOUT, measure

pytestmark = pytest.mark.live

WORKERS = 2
USERS = 4
SECONDS = 2.0
SLOW_CLIENTS = (0, 50, 200)
# Servers that give a connection a thread while it sends its request.
THREAD_PER_CONNECTION = {"gunicorn-gthread"}
PATHS = dict.fromkeys(SERVER_KINDS, "/async/api/?delay=0") | {
    "gunicorn-gthread": "/sync/api/?delay=0",
    "granian-wsgi": "/sync/api/?delay=0",
}


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_normal_users_as_slow_clients_grow(kind, figure):
    with serve(kind, workers=WORKERS) as server:
        windows = [measure(server.url, PATHS[kind], n, USERS, SECONDS) for n in SLOW_CLIENTS]
    figure(f"{kind} ({WORKERS} workers), {USERS} normal users", "; ".join(map(str, windows)))
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
