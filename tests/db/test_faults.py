"""Database faults: an exhausted pool, a statement over DB_TIMEOUT, a stopped PostgreSQL. Each
answers a JSON 503 (504 for the cancelled statement) within DB_TIMEOUT, counted by error_type,
while the worker goes on serving the other views."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mysite.db import cluster as pg
from mysite.launcher import serve
from mysite.metrics import names
from tests.metrics.samples import scrape, total
from tests.metrics.test_live import wait_for

from .conftest import PATHS, POOLS, db_env, sleeping_queries, throwaway_cluster

pytestmark = pytest.mark.live

TIMEOUT = 3.0
# Time for a busy 2-core machine to answer after a deadline; far less than a second timeout.
LATE = 1.5


def timed_get(url: str, **query) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(url, params=query, timeout=30)
    return response, time.monotonic() - started


def errors(samples, kind: str, error_type: str) -> float:
    return total(
        samples,
        names.DB_OPERATION_DURATION + "_count",
        **{names.DB_POOL: POOLS[kind], names.ERROR_TYPE: error_type},
    )


@pytest.fixture(scope="module")
def pool_of_one(postgres):
    env = db_env(postgres, DB_POOL_SIZE="1", DB_TIMEOUT=str(TIMEOUT))
    with serve("uvicorn", 1, env=env) as running:
        yield running


def test_an_exhausted_pool_waits_at_most_db_timeout_then_503(pool_of_one, figure):
    """One connection, four queries of 2 s at once: the first runs, the second waits 2 s for
    it, the other two give up at DB_TIMEOUT (3 s). Every path at once: each has its pool."""
    before = scrape(pool_of_one.url)
    with ThreadPoolExecutor(4 * len(PATHS)) as clients:
        results = {
            kind: [clients.submit(timed_get, pool_of_one.url + path, delay=2) for _ in range(4)]
            for kind, path in PATHS.items()
        }
        results = {kind: [f.result() for f in futures] for kind, futures in results.items()}
    after = scrape(pool_of_one.url)
    for kind, answers in results.items():
        statuses = sorted(response.status_code for response, _ in answers)
        assert statuses == [200, 200, 503, 503], (kind, [r.text for r, _ in answers])
        for response, elapsed in answers:
            if response.status_code == 503:
                assert response.json()["error_type"] == "pool_timeout"
                assert "no pooled database connection" in response.json()["error"]
                assert TIMEOUT - 0.2 <= elapsed <= TIMEOUT + LATE, (kind, elapsed)
        assert errors(after, kind, "pool_timeout") - errors(before, kind, "pool_timeout") == 2
        figure(
            f"{kind}: statuses, 503 answered after (s)",
            f"{statuses}, {[round(e, 2) for r, e in answers if r.status_code == 503]}",
            f"2 x 200, 2 x 503 in [{TIMEOUT - 0.2:g}, {TIMEOUT + LATE:g}] s",
        )


def test_a_statement_over_db_timeout_is_cancelled_inside_postgresql(pool_of_one, postgres, figure):
    before = scrape(pool_of_one.url)
    with ThreadPoolExecutor(len(PATHS)) as clients:
        answers = dict(
            zip(
                PATHS,
                clients.map(
                    lambda path: timed_get(pool_of_one.url + path, delay=8), PATHS.values()
                ),
                strict=True,
            )
        )
    # Cancelled by PostgreSQL at statement_timeout, not abandoned by the client: nothing of
    # the 8 s sleeps still runs on the server.
    assert sleeping_queries(postgres) == 0
    after = scrape(pool_of_one.url)
    for kind, (response, elapsed) in answers.items():
        assert response.status_code == 504, (kind, response.text)
        assert response.json()["error_type"] == "statement_timeout"
        assert TIMEOUT - 0.2 <= elapsed <= TIMEOUT + LATE, (kind, elapsed)
        figure(
            f"{kind}: 504 after (s)", round(elapsed, 2), f"[{TIMEOUT - 0.2:g}, {TIMEOUT + LATE:g}]"
        )
        assert (
            errors(after, kind, "statement_timeout") - errors(before, kind, "statement_timeout")
            == 1
        )
        # The connection went back to its pool and serves the next query.
        assert httpx.get(pool_of_one.url + PATHS[kind], params={"delay": 0}).status_code == 200


@pytest.fixture
def own_cluster():
    """A cluster of its own, for a test that stops it."""
    with throwaway_cluster() as cluster:
        yield cluster


def test_a_stopped_postgresql_gives_503_within_db_timeout_and_the_worker_serves_on(
    own_cluster, figure
):
    timeout = 2.0
    env = db_env(own_cluster, DB_POOL_SIZE="2", DB_TIMEOUT=str(timeout))
    with serve("uvicorn", 1, env=env) as server:
        for path in PATHS.values():  # every pool open, with connections that will go stale
            assert httpx.get(server.url + path, params={"delay": 0}).status_code == 200
        pg.stop(own_cluster)

        def until_unreachable(path: str) -> list[tuple[int, str, float]]:
            """Stale connections fail at once; then the pool has none to give."""
            seen = []
            for _ in range(4):
                response, elapsed = timed_get(server.url + path, delay=0)
                seen.append((response.status_code, response.json()["error_type"], elapsed))
                if response.json()["error_type"] == "connection_error":
                    break
            return seen

        with ThreadPoolExecutor(len(PATHS)) as clients:
            pending = {kind: clients.submit(until_unreachable, p) for kind, p in PATHS.items()}
            # Meanwhile the worker serves the views that need no database, promptly.
            for path in ("/async/api/", "/sync/api/", "/healthz"):
                response, elapsed = timed_get(server.url + path, delay=0)
                assert response.status_code == 200
                assert elapsed < 1.0, (path, elapsed)
                figure(f"{path} while the database is down (s)", round(elapsed, 3), "< 1 s")
            seen = {kind: future.result() for kind, future in pending.items()}
        for kind, answers in seen.items():
            assert answers[-1][1] == "connection_error", (kind, answers)
            for status, error_type, elapsed in answers:
                assert status == 503, (kind, answers)
                assert error_type in ("connection_lost", "connection_error"), (kind, answers)
                assert elapsed <= timeout + LATE, (kind, answers)
            figure(
                f"{kind}: answers (status, error_type, s)",
                [(s, e, round(t, 2)) for s, e, t in answers],
                f"503, <= {timeout + LATE:g} s",
            )
        samples = scrape(server.url)
        for kind in PATHS:
            assert errors(samples, kind, "connection_error") >= 1

        # Started again, PostgreSQL is found again by every path's pool.
        pg.start(own_cluster)
        restarted = time.monotonic()
        for path in PATHS.values():
            wait_for(
                lambda p=path: httpx.get(server.url + p, params={"delay": 0}).status_code == 200,
                f"{path} to reach PostgreSQL again",
                timeout=30,
            )
        figure(
            "every path serving again after the restart (s)",
            round(time.monotonic() - restarted, 1),
            "< 30 s",
        )
