"""The report's section "What an in-flight request costs": from ``results.json``'s ``inflight``
records alone (``loadtests.sweep.serverlife``), per case the worker's RSS and threads idle and at
the peak, per request, the threads blocked in the request's wait (against the queries
PostgreSQL ran at once); and sentences generated from those values: whether every in-flight
request held a thread, and which database paths hold one per in-flight query.
"""

from __future__ import annotations

from loadtests.analysis.records import InflightCost
from loadtests.analysis.results import Results

from .jinja import Sentences
from .tables import Part, Table, number, table, unless

say = Sentences("serverlife.j2")

TITLE = "What an in-flight request costs"
# A case "holds a thread per request" when its peak added at least this share of a thread per
# in-flight request (threads start as requests arrive, and a sample may fall between them).
HOLDS_SHARE = 0.5
# A database path "waits in a thread" when its blocked threads reach this share of the
# queries in flight; "waits in none" below NONE_SHARE. Not near 1: psycopg's sync wait wakes
# every PSYCOPG_WAIT_INTERVAL_S to check for interrupts, and a woken thread queues for the GIL
# on a lock, so a look can find part of them parked (43-99% blocked at a 1 s wait); the threads
# and the queries are sampled at different instants.
WAITS_SHARE = 0.25
PSYCOPG_WAIT_INTERVAL_S = 0.1  # psycopg.connection._WAIT_INTERVAL
NONE_SHARE = 0.05
# Below this share of the requests as queries at once, the sentence says they did not all wait
# together (a worker dispatching 1,000 requests takes longer than a 1 s wait).
TOGETHER_SHARE = 0.9


def _measured(costs: list[InflightCost]) -> list[InflightCost]:
    return [c for c in costs if not _failed(c)]


def _failed(c: InflightCost) -> bool:
    return bool(c.error) or c.peak_rss_mib is None


def _blocked(c: InflightCost) -> str:
    if c.peak_threads_blocked is None:
        return "-"
    return f"{c.idle_threads_blocked} → {c.peak_threads_blocked}"


COLUMNS = (
    ("case", lambda c: c.case),
    ("server", lambda c: c.server),
    ("path", lambda c: c.path),
    ("in flight", lambda c: str(c.concurrency)),
    (
        "answered",
        lambda c: (
            f"failed: {c.error}" if _failed(c) else f"{c.ok}/{c.concurrency} in {c.elapsed_s:.1f} s"
        ),
    ),
    *[
        (header, unless(_failed, read))
        for header, read in (
            ("RSS idle → peak MiB", lambda c: f"{c.idle_rss_mib:.0f} → {c.peak_rss_mib:.0f}"),
            ("KiB per request", lambda c: number(c.kib_per_request, 1)),
            ("threads idle → peak", lambda c: f"{c.idle_threads} → {c.peak_threads}"),
            ("threads per request", lambda c: number(c.threads_per_request, 2)),
            ("threads blocked", _blocked),
            ("queries in PostgreSQL (peak)", lambda c: number(c.peak_queries_in_flight)),
        )
    ],
)


def rows(costs: list[InflightCost]) -> Table:
    return table(COLUMNS, costs)


def _views_sentence(views: list[InflightCost]) -> str | None:
    if not views:  # every case is served under ASGI (uvicorn, granian)
        return None
    holding = [c for c in views if c.threads_per_request >= HOLDS_SHARE]
    shares = [(c, c.blocked_per_request) for c in views if c.blocked_per_request is not None]
    return say.views(
        [say.view_cost(c) for c in views],
        len(holding) == len(views),
        holding,
        blocked=[c for c, share in shares if share >= WAITS_SHARE],
        parked=[c for c, share in shares if share <= NONE_SHARE],
    )


def _database_sentences(paths: list[InflightCost]) -> list[str]:
    said, waiting, none = [], [], []
    for c in paths:
        if c.peak_threads_blocked is None or not c.peak_queries_in_flight:
            continue
        on_socket = c.peak_threads_blocked - c.idle_threads_blocked
        share = on_socket / c.peak_queries_in_flight
        (waiting if share >= WAITS_SHARE else none if share <= NONE_SHARE else []).append(c)
        together = c.peak_queries_in_flight >= TOGETHER_SHARE * c.concurrency
        said.append(
            say.query_wait(c, on_socket, share >= WAITS_SHARE, share <= NONE_SHARE, together)
        )
    if waiting and none:
        said.append(say.paths_differ(paths, waiting, none))
    return said


def sentences(costs: list[InflightCost]) -> list[str]:
    done = _measured(costs)
    views = [c for c in done if c.db_pool_size is None]
    paths = [c for c in done if c.db_pool_size is not None]
    said = [s for s in [_views_sentence(views)] if s] + _database_sentences(paths)
    if done:
        said.append(say.memory([c.kib_per_request for c in done]))
    said += [say.limited(c) for c in costs if c.limited_by]
    return said + [say.case_failed(c) for c in costs if c.error]


def rule(costs: list[InflightCost]) -> str:
    delays = sorted({c.delay_s for c in costs})
    return say.inflight_rule(delays, PSYCOPG_WAIT_INTERVAL_S, WAITS_SHARE, NONE_SHARE)


def part(record: Results) -> Part | None:
    runs = record.inflight
    return Part(TITLE, sentences(runs), rows(runs), rule(runs)) if runs else None
