"""``promtool test rules`` cases of the database paths' recording rules (``rules.database_rules``).

Part of ``rule_tests.tests_document``; the helpers are that module's.
"""

from __future__ import annotations

from mysite.metrics import names as n

from .promql import eq, series
from .rules import DB_ERROR_RATIO, DB_LATENCY, DB_RATE, DB_USED_RATIO, DB_WAIT, QUANTILE

_SYNC_POOL, _NATIVE_POOL = "sync_orm", "async_native"


def database_test(interval: int, series_of, counter, histogram, level, sample) -> dict:
    """The sync pool: 3 queries/s, 1 more/s that waited out DB_TIMEOUT (pool_timeout); 6 of its
    10 connections used. The native pool: 2 queries/s, no error, every connection idle."""
    ops = n.DB_OPERATION_DURATION
    base = {n.DB_SYSTEM: "postgresql", n.DB_OPERATION: "SELECT"}
    sync_ok = {**base, n.DB_POOL: _SYNC_POOL, n.ERROR_TYPE: ""}
    sync_failed = {**sync_ok, n.ERROR_TYPE: "pool_timeout"}
    native_ok = {**base, n.DB_POOL: _NATIVE_POOL, n.ERROR_TYPE: ""}
    sync, native = level((n.DB_POOL, _SYNC_POOL)), level((n.DB_POOL, _NATIVE_POOL))

    def gauge(pool: str, state: str, value: int) -> dict:
        labels = {n.DB_CONNECTION_STATE: state, n.DB_POOL: pool}
        return {"series": series_of(n.DB_CONNECTION_COUNT, labels), "values": f"{value}x40"}

    at = "5m"
    return {
        "interval": f"{interval}s",
        "input_series": [
            counter(ops + "_count", sync_ok, 3),
            counter(ops + "_count", sync_failed, 1),
            counter(ops + "_count", native_ok, 2),
            # Successful sync statements: half within 0.25 s, all within 0.5 s.
            *histogram(ops, sync_ok, {"0.25": 1.5, "0.5": 3.0, "+Inf": 3.0}),
            # Waits for a sync connection: all 4/s between 0.1 and 0.2 s.
            *histogram(
                n.DB_CONNECTION_WAIT,
                {n.DB_POOL: _SYNC_POOL},
                {"0.1": 0.0, "0.2": 4.0, "+Inf": 4.0},
            ),
            gauge(_SYNC_POOL, n.DB_STATE_USED, 6),
            gauge(_SYNC_POOL, n.DB_STATE_IDLE, 4),
            gauge(_NATIVE_POOL, n.DB_STATE_IDLE, 10),
        ],
        "promql_expr_test": [
            {
                "expr": DB_RATE,
                "eval_time": at,
                "exp_samples": [sample(sync, 4, DB_RATE), sample(native, 2, DB_RATE)],
            },
            {
                "expr": DB_ERROR_RATIO,
                "eval_time": at,
                "exp_samples": [
                    sample(sync, 0.25, DB_ERROR_RATIO),
                    sample(native, 0, DB_ERROR_RATIO),
                ],
            },
            {
                # p50: rank 1.5 of 3 is the top of the first bucket: 0.25 s.
                "expr": series(DB_LATENCY, eq(QUANTILE, "0.5")),
                "eval_time": at,
                "exp_samples": [sample({**sync, QUANTILE: "0.5"}, 0.25, DB_LATENCY)],
            },
            {
                # p99 of the waits: 0.1 + 0.1 * 0.99 = 0.199 s.
                "expr": series(DB_WAIT, eq(QUANTILE, "0.99")),
                "eval_time": at,
                "exp_samples": [sample({**sync, QUANTILE: "0.99"}, 0.199, DB_WAIT)],
            },
            {
                "expr": DB_USED_RATIO,
                "eval_time": at,
                "exp_samples": [
                    sample(sync, 0.6, DB_USED_RATIO),
                    sample(native, 0, DB_USED_RATIO),
                ],
            },
        ],
    }
