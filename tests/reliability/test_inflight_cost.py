"""What an in-flight request costs: worker RSS and threads with C requests waiting 1 s each, for
the async and sync views under ASGI and the three database paths (one worker, psutil and /proc).

Found: under Django's ASGI handler every request, async view or not, runs in its own asgiref
``ThreadSensitiveContext``, and the sync ``request_started`` receivers (``close_old_connections``,
``reset_queries``) run in a thread of that context: each in-flight request holds a thread and
about 50 KiB, whichever view it asks for. What differs between the database paths is what that
thread does: the sync ORM and the async ORM (``sync_to_async``) wait for the query in it, on the
database socket; the native path awaits the query on the event loop, and no thread waits.

The measurement is the sweep's (``loadtests.sweep.serverlife``, a phase of ``--profile full``).
``make test`` holds ``IN_FLIGHT`` requests per case, enough to show a thread per request and
who blocks one; ``RELIABILITY_IN_FLIGHT=1000`` (``inflight.WANTED``, the issue's figure) gives
the table that docs/RELIABILITY.md quotes.
"""

import os
from pathlib import Path

import pytest

from loadtests.report.inflight import WAITS_SHARE
from loadtests.sweep import inflight, serverlife
from loadtests.sweep.cell import Context

pytestmark = pytest.mark.live

IN_FLIGHT = int(os.environ.get("RELIABILITY_IN_FLIGHT", "200"))


@pytest.fixture(scope="module")
def wanted():
    return inflight.open_files_allow(IN_FLIGHT)


@pytest.fixture(scope="module")
def db_url(wanted, request):
    """A PostgreSQL that takes a pool of ``wanted`` connections: the session's when its
    max_connections allow it and no client holds any (the measurement counts them all), else a
    throwaway cluster sized for them, as the sweep's phase starts."""
    shared = request.getfixturevalue("postgres").url()
    if (
        serverlife.connections_allowed(shared) >= wanted[0]
        and serverlife.client_connections(shared) == 0
    ):
        yield shared
        return
    with serverlife.database(wanted[0]) as url:
        yield url


CASE_IDS = [f"{c.server}: {c.label}" for c in inflight.CASES]


@pytest.mark.parametrize("case", inflight.CASES, ids=CASE_IDS)
def test_what_an_in_flight_request_costs(case, wanted, request, tmp_path: Path, figure):
    count, reason = wanted
    url = request.getfixturevalue("db_url") if case.database else None
    ctx = Context(run_dir=tmp_path, generator=None)
    (tmp_path / "serverlife").mkdir()
    cost = serverlife.measure_case(case, ctx, count, reason, url)
    figure(
        f"{case.label}, {cost.concurrency} requests waiting {inflight.DELAY:g} s",
        inflight.describe(cost) + (f" (limited by {cost.limited_by})" if cost.limited_by else ""),
    )
    assert cost.error is None, cost.error
    assert cost.ok == cost.concurrency
    # They waited together: far less than one after another.
    assert cost.elapsed_s < inflight.DELAY + 15
    assert cost.kib_per_request < 1024
    if case.server == "uvicorn":
        # Django's per-request ThreadSensitiveContext: a thread per in-flight request.
        assert cost.peak_threads - cost.idle_threads > cost.concurrency / 2, cost
    blocked = cost.peak_threads_blocked - cost.idle_threads_blocked
    if not case.database:
        if case.path.startswith("/sync/"):
            assert blocked > cost.concurrency / 2, cost  # the sync view sleeps in its thread
        else:
            assert blocked <= 2, cost  # the async view's thread stays parked
        return
    queries = cost.peak_queries_in_flight
    assert queries > cost.concurrency / 4, cost  # the queries did wait together
    if case.path == "/async/db_native/":
        # Awaited on the event loop: no thread is blocked for a query.
        assert blocked <= 2, cost
    else:
        # A thread per in-flight query; a look finds only part of them blocked (psycopg wakes
        # every 0.1 s and queues for the GIL): 43-100% seen, against the native path's 0.
        assert blocked > WAITS_SHARE * queries, cost
