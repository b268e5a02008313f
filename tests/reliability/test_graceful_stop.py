"""Graceful stop on every server kind: requests as long as the longest legitimate one in flight
at SIGTERM all get their answer, the lifespan shutdown runs in every ASGI worker, and nothing is
left running.

The longest request is what ``mysite.bounds`` computes from the server's settings: here
``FANOUT_DEADLINE`` is set past the old fixed 15 s wait, so the sequential fan-out (against an
upstream too slow for all its calls) is the longest, answering at its deadline; the sleep views
wait ``delay=10`` beside it. The launcher must hand that figure to every kind.

Before: uvicorn waited 5 s, gunicorn 10 s, and uvicorn workers under gunicorn had no graceful
timeout at all (gunicorn's SIGKILL ended them, with no lifespan shutdown); then every kind
waited a fixed 15 s, which cut the sequential fan-out (it had no deadline of its own). The kinds
run side by side, so the test takes one long request's time, not five; so do the two kinds of
the reload under Locust (the module's ``reloads`` fixture).
"""

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mysite.demo.params import MAX_DELAY
from mysite.launcher import RunningProcess, announced_stop, serve
from mysite.lifespan import SHUTDOWN_COMPLETE, STARTUP_COMPLETE
from mysite.metrics import names
from mysite.servers import SERVER_KINDS
from mysite.shutdown import StopTimes
from tests.side_by_side import outcome, selected_cases, side_by_side

from .helpers import LocustRun, locust_load, process_tree, scrape, total, wait_for, worker_pids

pytestmark = pytest.mark.live

WORKERS = 2
ASGI_KINDS = ("uvicorn", "gunicorn-uvicorn", "granian")
IN_FLIGHT = 4  # sleep requests per kind: two per worker on average
# The server's settings: FANOUT_DEADLINE past the old fixed wait of 15 s (its request would have
# been cut), the rest small, so that the fan-out's deadline is the longest request.
FANOUT_DEADLINE = 18.0
SETTINGS = {"UPSTREAM_TIMEOUT": "1", "FANOUT_DEADLINE": f"{FANOUT_DEADLINE:g}", "DB_TIMEOUT": "1"}
EXPECTED = StopTimes(FANOUT_DEADLINE)
# 100 calls of 0.5 s one after another: 50 s of work, cut by the deadline.
SEQUENTIAL = ("/sync/api_sequential/", {"delay": 0.5, "fanout": 100})


@dataclass
class Stop:
    kind: str
    statuses: list[int | str]
    request_seconds: list[float]
    sequential: tuple[int | str, float]
    announced: StopTimes
    exit_seconds: float  # from SIGTERM to the master's exit
    left_running: list[str]
    workers: set[int]
    log: str


def paths(kind: str) -> list[str]:
    """The long requests: the sync view everywhere, the async view too under ASGI."""
    views = ["/sync/api/", "/async/api/"] if kind in ASGI_KINDS else ["/sync/api/"]
    return [views[i % len(views)] for i in range(IN_FLIGHT)]


def get(url: str, params: dict | None = None) -> tuple[int | str, float]:
    """The status (or the error's name when no answer came) and the seconds it took."""
    started = time.monotonic()
    try:
        with httpx.Client(timeout=2 * EXPECTED.stop_grace) as client:
            status: int | str = client.get(url, params=params or {"delay": MAX_DELAY}).status_code
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    return status, time.monotonic() - started


def logged_in(log: str, event: str, pids: set[int]) -> set[int]:
    """The workers among ``pids`` that logged ``event`` (mysite.lifespan's evidence)."""
    return {pid for pid in pids if f"{event} in worker {pid}" in log}


def lifespans_started(server: RunningProcess) -> set[int]:
    """The server's workers, once every ASGI worker has run its lifespan startup.

    The server answers as soon as one worker does. A uvicorn worker that gunicorn has forked but
    that is still importing Django dies on SIGTERM at once (uvicorn-worker restores the default
    handler until uvicorn installs its own), with no lifespan to shut down: a stop test must
    start from workers that all serve.
    """
    workers = worker_pids(server)
    if server.extra["kind"] in ASGI_KINDS:
        wait_for(
            lambda: (
                logged_in(server.log_path.read_text(errors="replace"), STARTUP_COMPLETE, workers)
                == workers
            ),
            60,
            f"{server.extra['kind']}: lifespan startup in workers {sorted(workers)}",
        )
    return workers


def sigterm_with_long_requests(kind: str, log_dir: Path, upstream_url: str) -> Stop:
    env = {**SETTINGS, "UPSTREAM_URL": upstream_url}
    with (
        serve(kind, workers=WORKERS, log_dir=log_dir, env=env) as server,
        ThreadPoolExecutor(8) as pool,
    ):
        workers = lifespans_started(server)
        sequential = pool.submit(get, server.url + SEQUENTIAL[0], SEQUENTIAL[1])
        requests = [pool.submit(get, server.url + path) for path in paths(kind)]
        wait_for(
            lambda: total(scrape(server.url), names.SERVER_ACTIVE) >= IN_FLIGHT + 1,
            30,
            f"{kind}: {IN_FLIGHT + 1} long requests in flight",
        )
        tree = process_tree(server.pid)
        # What a deployment's supervisor does: SIGTERM to the server's master, not the group.
        stopped_at = time.monotonic()
        os.kill(server.pid, signal.SIGTERM)
        server.process.wait(timeout=EXPECTED.stop_grace + 10)
        exit_seconds = time.monotonic() - stopped_at
        results = [request.result() for request in requests]
        sequential_result = sequential.result()
        time.sleep(0.5)  # what outlives the master, if anything, is still there now
        left = [f"{p.pid} {p.name()}" for p in tree if p.is_running() and p.status() != "zombie"]
        log = server.log_path.read_text(errors="replace")
    return Stop(
        kind,
        [status for status, _ in results],
        [seconds for _, seconds in results],
        sequential_result,
        announced_stop(server.log_path),
        exit_seconds,
        left,
        workers,
        log,
    )


def lifespan_shut_down(stop: Stop) -> set[int]:
    return logged_in(stop.log, SHUTDOWN_COMPLETE, stop.workers)


def test_sigterm_with_the_longest_requests_in_flight_on_every_kind(tmp_path, upstream, figure):
    upstream_url = upstream.url + "/api/"
    with ThreadPoolExecutor(len(SERVER_KINDS)) as pool:
        stops = list(
            pool.map(
                lambda kind: sigterm_with_long_requests(kind, tmp_path / kind, upstream_url),
                SERVER_KINDS,
            )
        )
    for stop in stops:
        shut_down = lifespan_shut_down(stop)
        figure(
            f"{stop.kind}: the sequential fan-out (deadline {FANOUT_DEADLINE:g} s) and "
            f"{IN_FLIGHT} requests of {MAX_DELAY:g} s at SIGTERM",
            f"announced {stop.announced.longest_request:g} s (server waits "
            f"{stop.announced.graceful:g} s); fan-out {stop.sequential[0]} after "
            f"{stop.sequential[1]:.1f} s; sleeps {stop.statuses} after "
            f"{min(stop.request_seconds):.1f}-{max(stop.request_seconds):.1f} s, master exit "
            f"{stop.exit_seconds:.1f} s after SIGTERM, lifespan shutdown in "
            f"{len(shut_down)}/{len(stop.workers)} workers, left running {stop.left_running}",
            f"fan-out 504 at its deadline, sleeps 200; exit < {EXPECTED.graceful:g} s + 5; "
            "nothing left",
        )
    for stop in stops:
        assert stop.announced == EXPECTED, stop.kind
        # The longest request got its answer: the contract's 504 at its deadline, not a cut.
        status, seconds = stop.sequential
        assert status == 504, (stop.kind, stop.sequential, stop.log[-2000:])
        assert FANOUT_DEADLINE - 1 < seconds < FANOUT_DEADLINE + 5, (stop.kind, seconds)
        assert stop.statuses == [200] * IN_FLIGHT, (stop.kind, stop.statuses, stop.log[-2000:])
        assert stop.left_running == [], stop.kind
        assert stop.exit_seconds < EXPECTED.graceful + 5, stop.kind
        if stop.kind in ASGI_KINDS:
            assert lifespan_shut_down(stop) == stop.workers, (stop.kind, stop.log[-4000:])


RELOAD_KINDS = {"gunicorn-gthread": "SyncHelloUser", "gunicorn-uvicorn": "AsyncHelloUser"}
LOCUST_USERS = 10
# The request held across the reload: long enough that the HUP, sent a second after it, lands
# while an old worker holds it; the test checks that it did.
HELD_S = 5.0
SENT_BEFORE_HUP_S = 1.0


@dataclass
class Reload:
    load: LocustRun
    old: set[int]
    new: set[int]
    held: tuple[int | str, float]  # the held request's status and its seconds
    sent_at: float
    hup_at: float
    done_at: float
    log: str


def reload_under_locust(kind: str, log_dir: Path) -> Reload:
    with (
        serve(kind, workers=WORKERS, log_dir=log_dir) as server,
        ThreadPoolExecutor(1) as pool,
        locust_load(server.url, RELOAD_KINDS[kind], LOCUST_USERS, log_dir) as load,
    ):
        wait_for(
            lambda: total(scrape(server.url), names.SERVER_DURATION + "_count") > 100,
            60,
            f"{kind}: Locust's load reaching the server",
        )
        old = lifespans_started(server)
        sent_at = time.monotonic()
        held = pool.submit(
            lambda: (get(server.url + "/sync/api/", {"delay": HELD_S}), time.monotonic())
        )
        time.sleep(SENT_BEFORE_HUP_S)
        hup_at = time.monotonic()
        os.kill(server.pid, signal.SIGHUP)
        new = wait_for(
            lambda: (
                (pids := worker_pids(server)) and not pids & old and len(pids) == WORKERS and pids
            ),
            30,
            f"{kind}: the old workers replaced",
        )
        served_after = total(scrape(server.url), names.SERVER_DURATION + "_count")
        wait_for(
            lambda: (
                total(scrape(server.url), names.SERVER_DURATION + "_count") > served_after + 100
            ),
            30,
            f"{kind}: Locust served by the new workers",
        )
        answer, done_at = held.result()
        log = server.log_path.read_text(errors="replace")
    return Reload(load, old, new, answer, sent_at, hup_at, done_at, log)


@pytest.fixture(scope="module")
def reloads(request, tmp_path_factory) -> dict[str, Reload | BaseException]:
    """Each selected kind's reload under Locust, the kinds side by side."""
    kinds = selected_cases(request, "reloads", "kind")
    dirs = {kind: tmp_path_factory.mktemp(f"reload-{kind}") for kind in kinds}
    return side_by_side(lambda kind: reload_under_locust(kind, dirs[kind]), kinds)


@pytest.mark.parametrize("kind", list(RELOAD_KINDS))
def test_a_reload_under_locust_fails_no_request(kind, reloads, figure):
    """gunicorn's HUP while Locust runs (keep-alive connections, no wait) and a long request is
    in flight: new workers start, the old ones finish what they hold and go."""
    reload = outcome(reloads[kind])
    load, old, new = reload.load, reload.old, reload.new
    held_status, held_seconds = reload.held
    shut_down = logged_in(reload.log, SHUTDOWN_COMPLETE, old)
    figure(
        f"{kind}: HUP under Locust ({LOCUST_USERS} users, no wait)",
        f"{load.requests} requests, {load.failures} failed {load.failures_by_error}, the "
        f"{HELD_S:g} s request {held_status} after {held_seconds:.1f} s (HUP "
        f"{reload.hup_at - reload.sent_at:.1f} s after it was sent), workers {sorted(old)} -> "
        f"{sorted(new)}, lifespan shutdown in {len(shut_down)}/{len(old)} old workers",
        "0 failed; the long request 200, begun before the HUP and ended after it",
    )
    assert load.failures == 0, load.failures_by_error
    assert load.requests > 200
    assert held_status == 200
    # Held across the reload by an old worker: it had begun before the HUP (it ended less than
    # its own sleep after it), and it could not end before the HUP (sent less than its sleep
    # before it).
    assert reload.done_at - HELD_S < reload.hup_at < reload.sent_at + HELD_S
    if kind in ASGI_KINDS:
        assert shut_down == old
