"""The database suite's PostgreSQL: one throwaway cluster for the session, migrated and seeded,
started on first use and stopped at the end; and helpers to serve the app against it."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from mysite.db import cluster as pg

# One path per database view; the routes are the contract's.
PATHS = {"sync": "/sync/db/", "async": "/async/db/", "native": "/async/db_native/"}
POOLS = {"sync": "sync_orm", "async": "async_orm", "native": "async_native"}


def new_cluster_root() -> Path:
    # Short: a Unix socket's path must fit in 107 bytes.
    return Path(tempfile.mkdtemp(prefix="labpg-"))


@contextlib.contextmanager
def throwaway_cluster():
    """A migrated, seeded cluster in a folder of its own, removed with it."""
    root = new_cluster_root()
    try:
        with pg.running(root) as cluster:
            pg.prepare(cluster)
            yield cluster
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    """The session's cluster (not the one ``make run`` keeps under var/)."""
    with throwaway_cluster() as cluster:
        yield cluster


def db_env(cluster: pg.Cluster, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": cluster.url(), **extra}


def sql(cluster: pg.Cluster, query: str, params=()) -> list[tuple]:
    with psycopg.connect(**cluster.conninfo(), autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def sleeping_queries(cluster: pg.Cluster) -> int:
    """Statements of the lab's table that PostgreSQL is running, waiting in pg_sleep."""
    return sql(
        cluster,
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
        " AND wait_event = 'PgSleep' AND query LIKE %s",
        ["%lab_item%"],
    )[0][0]


_FIGURES: list[str] = []


@pytest.fixture
def figure(request):
    """Record what a test measured; the terminal summary lists it (docs/RELIABILITY.md)."""

    def record(name: str, value, bound: str = "") -> None:
        test = request.node.nodeid.rpartition("/")[2]
        _FIGURES.append(f"{test}: {name} = {value}" + (f"   (bound: {bound})" if bound else ""))

    return record


def pytest_terminal_summary(terminalreporter):
    if _FIGURES:
        terminalreporter.section("database figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
