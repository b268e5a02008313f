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
import functools
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import psycopg

from loadtests.analysis.records import InflightCost
from loadtests.analysis.results import Results
from loadtests.wait import wait_until
from mysite.db import cluster as pg
from mysite.db.checks import SPARE_CONNECTIONS
from mysite.launcher import SERVER_KINDS, ServerFailed

from . import inflight, phase, slowclients
from .cell import Context
from .phase import Experiment

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
            env |= {"DATABASE_URL": db_url, "DB_POOL_SIZE": str(count)}
            env["DB_TIMEOUT"] = f"{DB_TIMEOUT_S:g}"
        with ctx.server(case.server, 1, ctx.run_dir / "serverlife", env) as server:
            [pid] = server.extra["pids"]
            with urllib.request.urlopen(f"{server.url}{case.path}?delay=0", timeout=30):
                pass  # the view's first use (and its pool)
            if case.database and not wait_until(
                lambda: client_connections(db_url) >= count, POOL_READY_TIMEOUT, 0.2
            ):
                raise TimeoutError(f"the worker's pool of {count} connections not ready")
            return inflight.hold(
                case,
                server.url,
                psutil.Process(pid),
                count,
                inflight.DELAY,
                HOLD_TIMEOUT,
                queries=(lambda: sleeping_queries(db_url)) if case.database else None,
                db_pool_size=pool,
                limited_by=reason,
            )
    except (ServerFailed, OSError, ValueError, psutil.Error, psycopg.Error) as error:
        return inflight.failed(case, count, str(error) or type(error).__name__, pool, reason)


def experiments(ctx: Context, record: Results, threads: int) -> Iterator[Experiment]:
    """Each in-flight case, then each server kind's slow clients."""
    wanted, fd_reason = inflight.open_files_allow(inflight.WANTED)

    def case(c: inflight.Case, url: str | None) -> Experiment:
        measure = functools.partial(measure_case, c, ctx, wanted, fd_reason, url)
        return Experiment("in flight", measure, record.inflight.append, inflight.describe)

    # The views without a database first: a PostgreSQL that cannot start takes only its cases.
    yield from (case(c, None) for c in inflight.CASES if not c.database)
    waiting = [c for c in inflight.CASES if c.database]
    try:
        with database(wanted) as url:
            while waiting:
                yield case(waiting.pop(0), url)
    except (pg.ClusterError, OSError, psycopg.Error) as error:  # no PostgreSQL: the rest stand
        why = f"PostgreSQL did not start: {error}"
        for c in waiting:
            failed = functools.partial(inflight.failed, c, wanted, why, None, fd_reason)
            yield Experiment("in flight", failed, record.inflight.append, inflight.describe)
    for kind in SERVER_KINDS:
        measure = functools.partial(
            slowclients.short_run, kind, threads, ctx.run_dir / "serverlife", ctx.ready_timeout
        )
        yield Experiment("slow clients", measure, record.slow_clients.append, slowclients.describe)


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
    return phase.run(experiments(ctx, record, threads), write, note)
