"""Worker faults, live: kill -9 a worker under Locust load, and kill workers again and again.

The server must replace the worker, serve after the restart, never let a total go down, not
leak the in-flight gauge of the dead worker, and keep its metrics directory (and so its scrape
time) bounded however many workers die: compaction merges the dead workers' files.
"""

import itertools
import os
import signal
import time

import httpx
import pytest

from mysite.launcher import serve
from mysite.metrics import names

from .helpers import (
    decreases,
    locust_load,
    metric_files,
    scrape,
    total,
    wait_for,
    worker_pids,
)

pytestmark = pytest.mark.live

WORKERS = 2
USERS = 20
RESTART_BOUND = 30.0  # seconds from kill -9 to the new worker answering


def kill_and_wait_for_replacement(server, client: httpx.Client, victim: int) -> tuple[int, float]:
    """SIGKILL ``victim``; once its replacement has answered, return its pid and the time taken."""
    before = worker_pids(server)
    killed_at = time.perf_counter()
    os.kill(victim, signal.SIGKILL)

    def replaced():
        pids = worker_pids(server)
        new = pids - before
        return next(iter(new)) if len(pids) == WORKERS and victim not in pids and new else None

    new_pid = wait_for(replaced, RESTART_BOUND, f"a worker replacing {victim}")

    def new_worker_answered():
        # Each request on a new connection: the workers share the listening socket.
        for _ in range(10):
            with httpx.Client(timeout=5) as fresh:
                if fresh.get(server.url + "/healthz").json()["pid"] == new_pid:
                    return True
        return False

    wait_for(new_worker_answered, RESTART_BOUND, f"the new worker {new_pid} answering")
    return new_pid, time.perf_counter() - killed_at


SCENARIOS = {
    "uvicorn": ("AsyncHelloUser", "/async/api/"),
    "gunicorn-gthread": ("SyncHelloUser", "/sync/api/"),
}


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_kill_9_a_worker_under_locust_load(kind, tmp_path, figure):
    """Each original worker killed in turn, with requests in flight; once the load stops, the
    active-requests gauge is back to 0 and no file of a killed worker is left (one server and
    one Locust run prove both: the restarts and the gauge that must not leak)."""
    user_class, route = SCENARIOS[kind]

    def in_flight():
        return total(scrape(server.url), names.SERVER_ACTIVE) > 0

    # No Django checks before each start: tests/demo/test_checks.py tests them.
    with serve(kind, workers=WORKERS, system_checks=False) as server:
        with (
            httpx.Client(timeout=10) as client,
            locust_load(server.url, user_class, USERS, tmp_path) as load,
        ):
            wait_for(
                lambda: total(scrape(server.url), names.SERVER_DURATION + "_count") > 100,
                60,
                "Locust's load reaching the server",
            )
            scrapes = [scrape(server.url)]
            restarts = []
            victims = sorted(worker_pids(server))  # each original worker, one after the other
            for victim in victims:
                wait_for(in_flight, 30, "requests in flight")
                restarts.append(kill_and_wait_for_replacement(server, client, victim)[1])
                scrapes.append(scrape(server.url))
                # Load keeps flowing after the restart, on both workers.
                wait_for(
                    lambda: (
                        total(scrape(server.url), names.SERVER_DURATION + "_count")
                        > total(scrapes[-1], names.SERVER_DURATION + "_count") + 50
                    ),
                    30,
                    "requests served after the restart",
                )
                scrapes.append(scrape(server.url))
            after_restart = [
                client.get(server.url + route, params={"delay": 0}).status_code for _ in range(20)
            ]
            assert load.process.poll() is None, "Locust stopped early"
        # Locust has stopped: nothing is in flight any more, whoever was killed.
        samples = wait_for(
            lambda: (s := scrape(server.url)) and total(s, names.SERVER_ACTIVE) == 0 and s,
            10,
            "the active-requests gauge back at 0",
        )
        leftover = [
            name
            for name in metric_files(server.extra["metrics_dir"])
            if any(name.endswith(f"_{victim}.db") for victim in victims)
        ]

    # (Locust stopped first, then the server: check what was recorded meanwhile.)
    for earlier, later in itertools.pairwise(scrapes):
        assert decreases(earlier, later) == [], "a total went down across a restart"
    assert after_restart == [200] * 20
    failure_share = load.failures / max(load.requests, 1)
    figure(
        f"{kind}: kill -9 to new worker answering",
        ", ".join(f"{seconds:.1f} s" for seconds in restarts),
        f"< {RESTART_BOUND:g} s",
    )
    figure(
        f"{kind}: Locust requests / failures over both kills",
        f"{load.requests} / {load.failures} {load.failures_by_error}",
        f"failures < 2% ({USERS} users)",
    )
    figure(
        f"{kind}: active requests after the load, killed workers' files left",
        f"{total(samples, names.SERVER_ACTIVE):g}, {leftover}",
        "0, []",
    )
    assert load.requests > 0
    # What was in flight on a killed worker fails (connection reset); nothing else should.
    assert failure_share < 0.02, load.failures_by_error
    assert leftover == []


def test_many_restarts_keep_the_metrics_directory_bounded(figure):
    """uvicorn (no exit hook for a killed worker): a kill -9 every round, totals exact, files
    bounded. A kill whose files stayed would add at least one file, and a round holds two
    fewer than the bound: a leak passes it by the third kill, well within the rounds here.
    """
    rounds, per_round = 6, 10
    served = 0
    file_counts, scrape_times = [], []
    with (
        serve("uvicorn", workers=WORKERS, system_checks=False) as server,
        httpx.Client(timeout=10) as client,
    ):
        metrics_dir = server.extra["metrics_dir"]
        previous = scrape(server.url)
        for round_number in range(rounds):
            for _ in range(per_round):
                response = client.get(server.url + "/async/api/", params={"delay": 0})
                served += response.status_code == 200
            started = time.perf_counter()
            samples = scrape(server.url)
            scrape_times.append(time.perf_counter() - started)
            assert decreases(previous, samples) == []
            counted = total(samples, names.SERVER_DURATION + "_count", http_route="/async/api/")
            assert counted == served
            previous = samples
            file_counts.append(len(metric_files(metrics_dir)))
            victim = sorted(worker_pids(server))[round_number % WORKERS]
            kill_and_wait_for_replacement(server, client, victim)
        final = scrape(server.url)
        final_files = metric_files(metrics_dir)
    assert served == rounds * per_round
    assert total(final, names.SERVER_DURATION + "_count", http_route="/async/api/") == served
    assert decreases(previous, final) == []
    # Per live worker: its histogram file and two live-gauge files; plus the histogram archive.
    bound = 3 * WORKERS + 2
    figure(f"metric files per round ({rounds} kill -9s)", file_counts, f"<= {bound}")
    figure("files at the end", final_files)
    figure("scrape times (ms)", [round(t * 1000) for t in scrape_times], "max < 1000")
    assert max(file_counts) <= bound
    assert len(final_files) <= bound
    assert "histogram_archive.db" in final_files
    assert max(scrape_times) < 1.0
