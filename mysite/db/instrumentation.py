"""The database metrics of every path, recorded where each thing happens.

- Each statement is timed by an execute wrapper that every connection of the three aliases
  carries (added when Django or django-async-backend announces the connection); a statement
  that fails is recorded with its ``error_type``.
- Each pool's ``getconn``/``putconn`` is wrapped once, the first time a view asks for its pool:
  the wait for a connection, the used and idle counts, and a query that failed before any
  statement ran (no connection within ``DB_TIMEOUT``) are recorded there.

So each query is one sample of ``db_client_operation_duration_seconds``, whichever way it ended.
"""

from __future__ import annotations

import functools
import threading
import time

import psycopg
from django.db import connections
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from django_async_backend.db import async_connections
from psycopg_pool import PoolTimeout

from mysite.metrics import instruments, names

from .databases import ALIASES, NATIVE, POOL_NAMES

DB_SYSTEM = "postgresql"
# error_type values, a fixed vocabulary.
POOL_TIMEOUT = "pool_timeout"
CONNECTION_ERROR = "connection_error"
STATEMENT_TIMEOUT = "statement_timeout"
CONNECTION_LOST = "connection_lost"
DATABASE_ERROR = "database_error"
_OPERATIONS = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "SET", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT"}
)
_OTHER_OPERATION = "OTHER"


class PostgresUnreachable(PoolTimeout):
    """The pool timed out holding no connection at all: PostgreSQL could not be reached."""


def classify(error: BaseException) -> str:
    """The ``error_type`` of a failed query; Django's wrapped errors are read by their cause."""
    cause = error.__cause__ if error.__cause__ is not None else error
    if isinstance(cause, PostgresUnreachable):
        return CONNECTION_ERROR
    if isinstance(cause, PoolTimeout):
        return POOL_TIMEOUT
    if isinstance(cause, psycopg.errors.QueryCanceled):
        return STATEMENT_TIMEOUT
    if isinstance(cause, psycopg.OperationalError):
        return CONNECTION_LOST
    return DATABASE_ERROR


@functools.lru_cache(maxsize=256)
def operation_name(sql: str) -> str:
    words = sql.split(None, 1)
    verb = words[0].upper() if words else ""
    return verb if verb in _OPERATIONS else _OTHER_OPERATION


# --- statements ------------------------------------------------------------------------------


def _pool_label(context: dict) -> str:
    alias = context["connection"].alias
    return POOL_NAMES.get(alias, alias)


def _record_statement(sql: str, context: dict, error_type: str, started: float) -> None:
    instruments.observe_db_operation(
        DB_SYSTEM,
        operation_name(sql),
        _pool_label(context),
        error_type,
        time.perf_counter() - started,
    )


def record_statement(execute, sql, params, many, context):
    started, error_type = time.perf_counter(), ""
    try:
        return execute(sql, params, many, context)
    except Exception as error:
        error_type = classify(error)
        raise
    finally:
        _record_statement(sql, context, error_type, started)


async def arecord_statement(execute, sql, params, many, context):
    started, error_type = time.perf_counter(), ""
    try:
        return await execute(sql, params, many, context)
    except Exception as error:
        error_type = classify(error)
        raise
    finally:
        _record_statement(sql, context, error_type, started)


@receiver(connection_created)
def _wrap_statements(sender, connection, **kwargs) -> None:
    if connection.alias not in ALIASES:
        return
    # With a pool, Django announces the same wrapper again at every checkout.
    recorder = arecord_statement if connection.alias == NATIVE else record_statement
    if recorder not in connection.execute_wrappers:
        connection.execute_wrappers.append(recorder)


# --- pools -----------------------------------------------------------------------------------


class _PoolGauges:
    """A pool's used and idle connections in this process (summed over live workers)."""

    def __init__(self, name: str):
        self.used = instruments.db_connection_count.labels(names.DB_STATE_USED, name)
        self.idle = instruments.db_connection_count.labels(names.DB_STATE_IDLE, name)
        self.in_use = 0
        self.lock = threading.Lock()

    def update(self, pool, delta: int) -> None:
        with self.lock:
            self.in_use += delta
            self.used.set(self.in_use)
            self.idle.set(pool.get_stats()["pool_available"])


def _failed_wait(gauges: _PoolGauges, error: PoolTimeout, name: str, waited: float):
    """The query failed before any statement: record it, and say whether the server is down."""
    if gauges.in_use == 0 and not isinstance(error, PostgresUnreachable):
        # No connection given out and none to give: the pool could not open any.
        error = PostgresUnreachable(f"no connection to PostgreSQL within {waited:.1f} s")
    instruments.observe_db_operation(DB_SYSTEM, _OTHER_OPERATION, name, classify(error), waited)
    return error


def _instrument_sync(pool) -> None:
    name, gauges = pool.name, _PoolGauges(pool.name)
    wait = instruments.db_connection_wait.labels(name)
    getconn, putconn = pool.getconn, pool.putconn

    def instrumented_getconn(timeout=None):
        started = time.perf_counter()
        try:
            conn = getconn(timeout)
        except PoolTimeout as error:
            waited = time.perf_counter() - started
            wait.observe(waited)
            failure = _failed_wait(gauges, error, name, waited)
            if failure is error:
                raise
            raise failure from error
        wait.observe(time.perf_counter() - started)
        gauges.update(pool, +1)
        return conn

    def instrumented_putconn(conn):
        putconn(conn)
        gauges.update(pool, -1)

    pool.getconn, pool.putconn = instrumented_getconn, instrumented_putconn


def _instrument_async(pool) -> None:
    name, gauges = pool.name, _PoolGauges(pool.name)
    wait = instruments.db_connection_wait.labels(name)
    getconn, putconn = pool.getconn, pool.putconn

    async def instrumented_getconn(timeout=None):  # noqa: ASYNC109  (the pool's signature)
        started = time.perf_counter()
        try:
            conn = await getconn(timeout)
        except PoolTimeout as error:
            waited = time.perf_counter() - started
            wait.observe(waited)
            failure = _failed_wait(gauges, error, name, waited)
            if failure is error:
                raise
            raise failure from error
        wait.observe(time.perf_counter() - started)
        gauges.update(pool, +1)
        return conn

    async def instrumented_putconn(conn):
        await putconn(conn)
        gauges.update(pool, -1)

    pool.getconn, pool.putconn = instrumented_getconn, instrumented_putconn


_instrument_lock = threading.Lock()
_FLAG = "_lab_instrumented"


def _once(pool, instrument) -> None:
    if getattr(pool, _FLAG, False):
        return
    with _instrument_lock:
        if not getattr(pool, _FLAG, False):
            instrument(pool)
            setattr(pool, _FLAG, True)


def sync_pool(alias: str) -> None:
    """Instrument Django's pool of ``alias`` (created, not opened: no I/O)."""
    _once(connections[alias].pool, _instrument_sync)


def async_pool(alias: str) -> None:
    """Instrument django-async-backend's pool of ``alias``; call it inside a task."""
    _once(async_connections[alias].pool, _instrument_async)
