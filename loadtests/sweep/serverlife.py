"""The server-life phase of ``--profile full``: what an in-flight request costs, and what slow
clients do to everyone else (issue 14, items 5 and 6), short forms of the reliability suite's.

In flight: for each case of ``inflight.CASES`` a fresh server with one worker, ``inflight.WANTED``
requests waiting ``inflight.DELAY`` s at once, the worker sampled (``inflight.hold``). A database
path needs a pooled connection per in-flight query, so its server gets ``DB_POOL_SIZE`` equal to
the count, and PostgreSQL must accept that many: the phase starts a throwaway cluster of its own
with ``max_connections`` to match (the lab's keeps its own setting), unless ``DATABASE_URL``
names a server, whose limit then bounds the count (said in the record).

Slow clients: every server kind, ``slowclients.measure`` at no slow connection and at
``slowclients.SHORT_SLOW_CLIENTS``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import psycopg

from loadtests.analysis.records import InflightCost, SlowClientsRun
from loadtests.analysis.results import Results
from mysite.db import cluster as pg
from mysite.db.checks import SPARE_CONNECTIONS
from mysite.launcher import SERVER_KINDS, ServerFailed, serve

from . import inflight, slowclients
from .cell import Context
from .sampler import pin_tree

RUN_BY_DEFAULT = ("full",)  # profiles that run the phase unless --no-server-life
POOL_READY_TIMEOUT = 60.0  # seconds for a worker to open its pool of ``inflight.WANTED``
HOLD_TIMEOUT = 60.0
DB_TIMEOUT_S = 30.0


def _sql_count(url: str, query: str) -> int:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(query).fetchone()[0]


def connections_allowed(url: str) -> int:
    """Connections a client may open on the server at ``url``: max_connections less the
    superuser's reserved ones and the spare the lab keeps (``mysite.db.checks``)."""
    return (
        _sql_count(
            url,
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int",
        )
        - SPARE_CONNECTIONS
    )


def sleeping_queries(url: str) -> int:
    """Statements PostgreSQL is running that wait in pg_sleep: the views' queries in flight."""
    return _sql_count(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND wait_event = 'PgSleep'"
        " AND datname = current_database()",
    )


def client_connections(url: str) -> int:
    return _sql_count(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
    )


@contextlib.contextmanager
def database(wanted: int) -> Iterator[str]:
    """A PostgreSQL URL that accepts ``wanted`` connections, where the lab can arrange it."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    root = Path(tempfile.mkdtemp(prefix="labpg-"))  # short: a socket path fits 107 bytes
    try:
        limit = wanted + SPARE_CONNECTIONS + 10  # + the superuser's reserved 3, and psql
        with pg.running(root, settings={"max_connections": str(limit)}) as cluster:
            pg.prepare(cluster)
            yield cluster.url()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _get(url: str, timeout: float = 30.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:g} s: {what}")
        time.sleep(0.2)


def measure_case(
    case: inflight.Case, ctx: Context, wanted: int, fd_reason: str | None, db_url: str | None
) -> InflightCost:
    """One case on a fresh one-worker server; a failure is the record's ``error``."""
    count, reason, env = wanted, fd_reason, {"MYSITE_LOG_LEVEL": "WARNING"}
    pool = None
    try:
        if case.database:
            allowed = connections_allowed(db_url)
            if allowed < count:
                count = allowed
                reason = f"PostgreSQL's max_connections allows {allowed} pooled connections"
            # DB_TIMEOUT bounds the statement too: the wait plus the time to take every
            # request in.
            pool = count
            env |= {
                "DATABASE_URL": db_url,
                "DB_POOL_SIZE": str(count),
                "DB_TIMEOUT": f"{DB_TIMEOUT_S:g}",
            }
        with serve(
            case.server,
            1,
            env=env,
            ready_timeout=ctx.ready_timeout,
            log_dir=ctx.run_dir / "serverlife",
            system_checks=False,
        ) as server:
            worker = psutil.Process(_get(f"{server.url}/healthz")["pid"])
            _get(f"{server.url}{case.path}?delay=0")  # the view's first use (and its pool)
            if case.database:
                _wait(
                    lambda: client_connections(db_url) >= count,
                    POOL_READY_TIMEOUT,
                    f"the worker's pool of {count} connections",
                )
            if ctx.server_cpus:
                pin_tree(server.pid, ctx.server_cpus)
            return inflight.hold(
                case,
                server.url,
                worker,
                count,
                inflight.DELAY,
                HOLD_TIMEOUT,
                queries=(lambda: sleeping_queries(db_url)) if case.database else None,
                db_pool_size=pool,
                limited_by=reason,
            )
    except (ServerFailed, OSError, ValueError, psutil.Error, psycopg.Error) as error:
        return InflightCost(
            case=case.label,
            server=case.server,
            path=case.path,
            concurrency=count,
            delay_s=inflight.DELAY,
            db_pool_size=pool,
            limited_by=reason,
            error=str(error) or type(error).__name__,
        )


def inflight_costs(
    ctx: Context, note: Callable[[str], object], save: Callable[[InflightCost], object]
) -> None:
    wanted, fd_reason = inflight.open_files_allow(inflight.WANTED)
    # The views without a database first: a PostgreSQL that cannot start takes only its cases.
    for case in [c for c in inflight.CASES if not c.database]:
        cost = measure_case(case, ctx, wanted, fd_reason, None)
        note(f"in flight: {inflight.describe(cost)}")
        save(cost)
    with database(wanted) as db_url:
        for case in [c for c in inflight.CASES if c.database]:
            cost = measure_case(case, ctx, wanted, fd_reason, db_url)
            note(f"in flight: {inflight.describe(cost)}")
            save(cost)


def slow_clients(
    ctx: Context,
    threads: int,
    note: Callable[[str], object],
    save: Callable[[SlowClientsRun], object],
) -> None:
    for kind in SERVER_KINDS:
        run = slowclients.short_run(kind, threads, ctx.run_dir / "serverlife", ctx.ready_timeout)
        note(f"slow clients: {slowclients.describe(run)}")
        save(run)


def estimate(start_cost: float) -> float:
    """Seconds the phase should take: its cluster (a start's worth), then each case and each
    kind at its least.

    An in-flight case starts a server, holds its requests for ``DELAY`` and drains them; a
    slow-clients kind starts a server and measures two windows, the second after the slow
    connections' users may have given up.
    """
    cases = len(inflight.CASES) * (start_cost + 2 * inflight.DELAY)
    kinds = len(SERVER_KINDS) * (start_cost + 2 * slowclients.SECONDS + slowclients.USER_TIMEOUT)
    return start_cost + cases + kinds


def run_phase(
    ctx: Context,
    record: Results,
    threads: int,
    write: Callable[[], object],
    note: Callable[[str], object],
) -> int:
    """Both measurements into ``record`` (written after each case); 1 when one failed."""
    ctx.settle()  # the cells' servers are stopped: each case has the machine to itself
    (ctx.run_dir / "serverlife").mkdir(exist_ok=True)
    note("server life: what an in-flight request costs, and slow clients")

    def keep(into: list):
        def save(item) -> None:
            into.append(item)
            write()

        return save

    stopped = False
    try:
        inflight_costs(ctx, note, keep(record.inflight))
    except (pg.ClusterError, OSError, psycopg.Error) as error:  # no PostgreSQL: the rest stand
        record.meta.notes.append(f"in-flight costs stopped: {error}")
        note(f"in-flight costs stopped: {error}")
        stopped = True
    slow_clients(ctx, threads, note, keep(record.slow_clients))
    failed = any(c.error for c in record.inflight) or any(r.error for r in record.slow_clients)
    return int(failed or stopped)
