"""What an in-flight request costs: worker RSS and threads with C requests waiting 1 s each,
for the async view and the sync view under ASGI (one worker process, measured with psutil).

Found: under Django's ASGI handler every request, async view or not, runs in its own asgiref
``ThreadSensitiveContext``, and the sync ``request_started`` receivers (``close_old_connections``,
``reset_queries``) run in a thread of that context: each in-flight request holds a thread and
about 50 KiB, whichever view it asks for. The database paths are not in the lab yet.
"""

import resource

import httpx
import psutil
import pytest

from mysite.launcher import serve

from .helpers import worker_processes
from .inflight import hold

pytestmark = pytest.mark.live

WANTED = 1000  # the figure; fewer when the open-file limit does not allow it
DELAY = 1.0
CASES = [  # (label, server kind, path)
    ("uvicorn, async view", "uvicorn", "/async/api/"),
    ("uvicorn, sync view under ASGI", "uvicorn", "/sync/api/"),
    ("granian, async view", "granian", "/async/api/"),
]


def concurrency() -> int:
    """As many as the open-file limit allows, up to ``WANTED`` (client and server share it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted_fds = 2 * WANTED + 512
    if hard == resource.RLIM_INFINITY or hard >= wanted_fds:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted_fds), hard))
        return WANTED
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return max(50, (hard - 512) // 2)


@pytest.mark.parametrize(("label", "kind", "path"), CASES, ids=[c[0] for c in CASES])
def test_what_an_in_flight_request_costs(label, kind, path, figure):
    count = concurrency()
    with serve(kind, workers=1) as server:
        httpx.get(server.url + path, params={"delay": 0}, timeout=10).raise_for_status()
        # uvicorn with one worker serves in its own process; granian always has a child.
        workers = worker_processes(server)
        worker = workers[0] if workers else psutil.Process(server.pid)
        cost = hold(label, server.url, worker, path, count, DELAY, timeout=60)
    figure(f"{label}, {count} requests waiting {DELAY:g} s", str(cost))
    assert cost.ok == count
    # They waited together: far less than one after another.
    assert cost.elapsed_s < DELAY + 15
    assert cost.kib_per_request < 1024
    if kind == "uvicorn":
        # Django's per-request ThreadSensitiveContext: a thread per in-flight request.
        assert cost.peak_threads - cost.idle_threads > count / 2, cost
