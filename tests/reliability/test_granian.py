"""granian (ASGI and WSGI interfaces) in multi-process metrics mode: exact counts whichever
worker answers the scrape, and a killed worker's live gauges gone at the next scrape.

granian has no ``child_exit`` hook: the scrape's own liveness check is what forgets a worker
that was killed, and granian's ``--respawn-failed-workers`` replaces it. (Found here: after a
respawn, granian's stop waits its full ``--workers-kill-timeout`` for the dead worker's handle,
so the kill is done under one interface only; the liveness check is the same code for both.)
"""

import http.client
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from mysite.launcher import serve
from mysite.metrics import names

from .helpers import decreases, metric_files, scrape, total, wait_for, worker_pids

pytestmark = pytest.mark.live

REQUESTS = 200
SCRAPES = 3
KINDS = {"granian": ["/async/api/", "/sync/api/"], "granian-wsgi": ["/sync/api/"]}
KILL_UNDER = "granian"


def fire(url: str, count: int) -> list[int]:
    address = urlsplit(url)

    def one(_):
        # A new connection each: granian's workers share the port, so the requests spread.
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        try:
            connection.request("GET", address.path + "?delay=0")
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(count)))


def stop_at_once(server) -> None:
    """SIGKILL the server's group: nothing is in flight and nothing is checked after this.

    granian's graceful stop waits its whole ``--workers-kill-timeout`` (15 s) for a worker
    after a respawn (above), and granian-wsgi's once did without one (15.1 s, in one of three
    stops timed); test_graceful_stop.py tests the stop, not this file.
    """
    os.killpg(server.pid, signal.SIGKILL)


@pytest.mark.parametrize("kind", list(KINDS))
def test_counts_are_exact_with_two_workers_and_a_killed_one(kind, figure):
    # No Django checks before each start: tests/demo/test_checks.py tests them.
    with serve(kind, workers=2, system_checks=False) as server:
        for route in KINDS[kind]:
            assert fire(server.url + route, REQUESTS) == [200] * REQUESTS
        scrapes = [scrape(server.url) for _ in range(SCRAPES)]
        counted = [
            [total(s, names.SERVER_DURATION + "_count", http_route=r) for r in KINDS[kind]]
            for s in scrapes
        ]
        served_by = {
            name for name in metric_files(server.extra["metrics_dir"]) if "histogram_" in name
        }
        figure(
            f"{kind}, 2 workers: {REQUESTS} requests per route, counted by {SCRAPES} scrapes",
            counted,
            f"each {REQUESTS}",
        )
        figure(f"{kind}: workers that wrote a histogram file", len(served_by))
        assert counted == [[REQUESTS] * len(KINDS[kind])] * SCRAPES
        if kind != KILL_UNDER:
            stop_at_once(server)
            return
        victim = min(worker_pids(server))
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda: len(worker_pids(server) - {victim}) == 2, 30, "granian respawning the worker"
        )
        after_kill = wait_for(
            lambda: (
                (s := scrape(server.url))
                and not [
                    n
                    for n in metric_files(server.extra["metrics_dir"])
                    if "live" in n and n.endswith(f"_{victim}.db")
                ]
                and s
            ),
            30,
            "the killed worker's live gauges forgotten",
        )
        assert fire(server.url + KINDS[kind][0], 20) == [200] * 20
        final = scrape(server.url)
        stop_at_once(server)
    assert decreases(scrapes[-1], after_kill) == []
    assert total(final, names.SERVER_DURATION + "_count", http_route=KINDS[kind][0]) == (
        REQUESTS + 20
    )
