"""The database suite's helpers: a throwaway cluster, migrated and seeded, in a folder of its own
(the session's ``postgres`` fixture, tests/conftest.py, is one), and helpers to serve the app
against it."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import psycopg

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
