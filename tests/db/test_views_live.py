"""The three database views on a real uvicorn with two workers, against the session's
PostgreSQL: the rows asked for, the same rows on every path, the delay spent in PostgreSQL,
and metrics that count every query exactly whichever worker ran it."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mysite.db.seed import expected_rows
from mysite.launcher import serve
from mysite.metrics import names
from tests.metrics.samples import scrape, total
from tests.metrics.test_live import only_accepting, wait_for, workers

from .conftest import PATHS, POOLS, db_env, sleeping_queries

pytestmark = pytest.mark.live

POOL_SIZE = 4


@pytest.fixture(scope="module")
def server(postgres):
    env = db_env(postgres, DB_POOL_SIZE=str(POOL_SIZE), DB_TIMEOUT="5")
    with serve("uvicorn", 2, env=env) as running:
        yield running


def get(server, path: str, **query) -> httpx.Response:
    # A connection per request, so that requests spread over the workers.
    return httpx.get(server.url + path, params=query, timeout=30)


@pytest.mark.parametrize("rows", [1, 37, 100])
def test_every_path_returns_the_rows_asked_for_and_the_same_rows(server, rows):
    bodies = {}
    for kind, path in PATHS.items():
        response = get(server, path, rows=rows, delay=0)
        assert response.status_code == 200, response.text
        bodies[kind] = response.json()
    assert bodies["sync"]["rows"] == expected_rows(rows)
    assert bodies["async"]["rows"] == bodies["sync"]["rows"] == bodies["native"]["rows"]
    assert all(body["delay"] == 0 for body in bodies.values())


@pytest.mark.parametrize("kind", PATHS)
def test_rows_default_to_ten(server, kind):
    assert get(server, PATHS[kind], delay=0).json()["rows"] == expected_rows(10)


@pytest.mark.parametrize("kind", PATHS)
def test_the_delay_is_spent_inside_postgresql(server, postgres, kind):
    delay = 1.5
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(get, server, PATHS[kind], delay=delay, rows=2)
        wait_for(lambda: sleeping_queries(postgres) == 1, "PostgreSQL to sleep in the query", 5)
        response = pending.result(timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["rows"] == expected_rows(2)
    assert delay <= body["elapsed"] < delay + 1.5
    assert sleeping_queries(postgres) == 0


def db_samples(samples, kind: str) -> dict[str, float]:
    pool = {names.DB_POOL: POOLS[kind]}
    return {
        "operations": total(
            samples, names.DB_OPERATION_DURATION + "_count", **pool, **{names.ERROR_TYPE: ""}
        ),
        "failed": total(samples, names.DB_OPERATION_DURATION + "_count", **pool)
        - total(samples, names.DB_OPERATION_DURATION + "_count", **pool, **{names.ERROR_TYPE: ""}),
        "waits": total(samples, names.DB_CONNECTION_WAIT + "_count", **pool),
        "used": total(
            samples, names.DB_CONNECTION_COUNT, **pool, **{names.DB_CONNECTION_STATE: "used"}
        ),
        "requests": total(
            samples,
            names.SERVER_DURATION + "_count",
            **{names.ROUTE: PATHS[kind], names.STATUS: "200"},
        ),
    }


def test_metrics_count_every_query_exactly_across_workers(server):
    """Each worker serves a share (the other paused meanwhile); every scrape counts them all."""
    share = 12
    pool = workers(server)
    before = {kind: db_samples(scrape(server.url), kind) for kind in PATHS}
    for worker in pool:
        with only_accepting(worker, pool), ThreadPoolExecutor(POOL_SIZE) as clients:
            for path in PATHS.values():
                statuses = list(
                    clients.map(lambda _, p=path: get(server, p, delay=0).status_code, range(share))
                )
                assert statuses == [200] * share
    served = share * len(pool)
    for _ in range(3):  # each scrape may be answered by another worker
        samples = scrape(server.url)
        for kind in PATHS:
            after = db_samples(samples, kind)
            assert after["operations"] - before[kind]["operations"] == served, kind
            assert after["failed"] == before[kind]["failed"], kind
            assert after["waits"] - before[kind]["waits"] == served, kind
            assert after["requests"] - before[kind]["requests"] == served, kind
            assert after["used"] == 0, kind


def test_idle_connections_are_the_pools_of_the_workers_that_used_them(server):
    for kind, path in PATHS.items():
        assert get(server, path, delay=0).status_code == 200
        idle = wait_for(
            lambda k=kind: (
                total(
                    scrape(server.url),
                    names.DB_CONNECTION_COUNT,
                    **{names.DB_POOL: POOLS[k], names.DB_CONNECTION_STATE: "idle"},
                )
                or None
            ),
            f"idle connections of {kind}",
        )
        assert POOL_SIZE <= idle <= POOL_SIZE * len(workers(server))


def test_a_bad_parameter_never_reaches_the_database(server):
    started = time.monotonic()
    for path in PATHS.values():
        response = get(server, path, rows="1e3")
        assert response.status_code == 400
        assert response.json() == {"error": "rows must be a whole number"}
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("kind", ["gunicorn-gthread", "gunicorn-uvicorn"])
def test_under_gunicorn_the_orm_paths_serve_and_native_only_under_asgi(postgres, kind):
    with serve(kind, 1, threads=4, env=db_env(postgres)) as gunicorn:
        for path in ("sync", "async"):
            response = get(gunicorn, PATHS[path], delay=0, rows=5)
            assert response.status_code == 200, response.text
            assert response.json()["rows"] == expected_rows(5)
        response = get(gunicorn, PATHS["native"], delay=0, rows=5)
        if kind == "gunicorn-gthread":  # WSGI: said, not faked
            assert response.status_code == 501
            assert "ASGI" in response.json()["error"]
        else:
            assert response.status_code == 200, response.text
            assert response.json()["rows"] == expected_rows(5)
