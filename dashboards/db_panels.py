"""The database paths' panels (``mysite/db``): queries by pool, the pool's connections, and the
wait for one. One pool per path (label ``db_client_connection_pool_name``: ``sync_orm``,
``async_orm``, ``async_native``), so every panel compares the three paths."""

from __future__ import annotations

from collections.abc import Callable

from mysite.metrics import names as n

from .panel import Panel
from .promql import Query, app_series, legend, ne, quantile_queries, rate, ratio_or_zero, sum_by


def db_operation_rate() -> Panel:
    by = (n.DB_POOL, n.ERROR_TYPE)
    return Panel(
        "db_operation_rate",
        "Database queries per second, by pool and outcome",
        "Statements the database views ran, per pool (one per path), and the queries that "
        "failed, by error_type (pool_timeout, connection_error, statement_timeout...).",
        "reqps",
        (
            Query(
                sum_by(by, rate(app_series(n.DB_OPERATION_DURATION + "_count"))),
                f"{legend(n.DB_POOL)} error={legend(n.ERROR_TYPE)}",
            ),
        ),
    )


def db_error_ratio() -> Panel:
    count = n.DB_OPERATION_DURATION + "_count"
    by = (n.DB_POOL,)
    errors = sum_by(by, rate(app_series(count, ne(n.ERROR_TYPE, ""))))
    total = sum_by(by, rate(app_series(count)))
    return Panel(
        "db_error_ratio",
        "Database query errors ratio, by pool",
        "Share of queries that failed: no pooled connection within DB_TIMEOUT, PostgreSQL "
        "unreachable, a statement cancelled at DB_TIMEOUT.",
        "percentunit",
        (Query(ratio_or_zero(errors, total), legend(n.DB_POOL)),),
    )


def db_operation_latency() -> Panel:
    return Panel(
        "db_operation_latency",
        "Database query duration percentiles, by pool",
        "Each statement's duration as the app's database client saw it (its wait in "
        "PostgreSQL included).",
        "s",
        quantile_queries(
            app_series(n.DB_OPERATION_DURATION + "_bucket"), (n.DB_POOL,), legend(n.DB_POOL) + " "
        ),
    )


def db_connections() -> Panel:
    by = (n.DB_POOL, n.DB_CONNECTION_STATE)
    return Panel(
        "db_connections",
        "Pooled database connections, used and idle",
        "Connections of each pool, summed over the worker processes: used by a query, or "
        "idle in the pool. Used at the pool's size means queries wait for a connection.",
        "short",
        (Query(sum_by(by, app_series(n.DB_CONNECTION_COUNT)), legend(*by)),),
    )


def db_connection_wait() -> Panel:
    return Panel(
        "db_connection_wait",
        "Wait for a pooled connection, percentiles",
        "How long a query waited for a connection from its pool before it could run.",
        "s",
        quantile_queries(
            app_series(n.DB_CONNECTION_WAIT + "_bucket"), (n.DB_POOL,), legend(n.DB_POOL) + " "
        ),
    )


DB_PANELS: tuple[Callable[[], Panel], ...] = (
    db_operation_rate,
    db_error_ratio,
    db_operation_latency,
    db_connections,
    db_connection_wait,
)
