"""The report's section "What an in-flight request costs": from ``results.json``'s ``inflight``
records alone (``loadtests.sweep.serverlife``), per case the worker's RSS and threads idle and at
the peak, per request, the threads blocked in the request's wait (against the queries
PostgreSQL ran at once); and sentences generated from those values: whether every in-flight
request held a thread, and which database paths hold one per in-flight query.
"""

from __future__ import annotations

import html

from loadtests.analysis.records import InflightCost
from loadtests.analysis.results import Results

from .tables import Table, html_table, markdown_table

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


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _measured(costs: list[InflightCost]) -> list[InflightCost]:
    return [c for c in costs if not c.error and c.peak_rss_mib is not None]


def rows(costs: list[InflightCost]) -> Table:
    header = [
        "case",
        "server",
        "path",
        "in flight",
        "answered",
        "RSS idle → peak MiB",
        "KiB per request",
        "threads idle → peak",
        "threads per request",
        "threads blocked",
        "queries in PostgreSQL (peak)",
    ]
    body = []
    for c in costs:
        if c.error or c.peak_rss_mib is None:
            body.append(
                [c.case, c.server, c.path, str(c.concurrency), f"failed: {c.error}", *["-"] * 6]
            )
            continue
        blocked = (
            f"{c.idle_threads_blocked} → {c.peak_threads_blocked}"
            if c.peak_threads_blocked is not None
            else "-"
        )
        body.append(
            [
                c.case,
                c.server,
                c.path,
                str(c.concurrency),
                f"{c.ok}/{c.concurrency} in {c.elapsed_s:.1f} s",
                f"{c.idle_rss_mib:.0f} → {c.peak_rss_mib:.0f}",
                _n(c.kib_per_request, 1),
                f"{c.idle_threads} → {c.peak_threads}",
                _n(c.threads_per_request, 2),
                blocked,
                _n(c.peak_queries_in_flight),
            ]
        )
    return header, body


def _blocked(c: InflightCost) -> str:
    if c.peak_threads_blocked is None or c.idle_threads_blocked is None:
        return ""
    return f", {c.peak_threads_blocked - c.idle_threads_blocked} blocked at the peak"


def _what_the_thread_does(views: list[InflightCost]) -> str:
    shares = [(c, c.blocked_per_request) for c in views if c.blocked_per_request is not None]
    blocked = [f"{c.case} ({c.server})" for c, share in shares if share >= WAITS_SHARE]
    parked = [f"{c.case} ({c.server})" for c, share in shares if share <= NONE_SHARE]
    if not (blocked and parked):
        return ""
    return (
        f" The {', '.join(blocked)} waited in that thread (blocked in the kernel); the "
        f"{', '.join(parked)} left it parked on a lock."
    )


def _views_sentence(views: list[InflightCost]) -> str | None:
    asgi = views  # every case is served under ASGI (uvicorn, granian)
    if not asgi:
        return None
    holding = [c for c in asgi if c.threads_per_request >= HOLDS_SHARE]
    each = "; ".join(
        f"{c.case} ({c.server}): threads {c.idle_threads} → {c.peak_threads} for "
        f"{c.concurrency} requests, "
        f"{c.kib_per_request:.0f} KiB each{_blocked(c)}"
        for c in asgi
    )
    if len(holding) == len(asgi):
        return (
            f"Under Django's ASGI handler (one worker) every in-flight request held a "
            f"thread, whatever its view ({each}): Django runs each request in its own asgiref "
            "ThreadSensitiveContext, and the sync receivers of request_started "
            "(close_old_connections, reset_queries) run in that context's own thread, which "
            f"lives until the response.{_what_the_thread_does(asgi)} The async view's advantage "
            "is not the memory of a waiting request."
        )
    return f"Under ASGI (one worker): {each}; " + (
        f"{', '.join(f'{c.case} ({c.server})' for c in holding)} held a thread per request, "
        "the others did not."
        if holding
        else "no case held a thread per request."
    )


def _database_sentences(paths: list[InflightCost]) -> list[str]:
    said, waiting, none = [], [], []
    for c in paths:
        if c.peak_threads_blocked is None or not c.peak_queries_in_flight:
            continue
        on_socket = c.peak_threads_blocked - c.idle_threads_blocked
        share = on_socket / c.peak_queries_in_flight
        verdict = (
            "a thread per in-flight query, blocked on the query's socket"
            if share >= WAITS_SHARE
            else "no thread waits for its query (the event loop awaits it)"
            if share <= NONE_SHARE
            else "threads blocked for some of its queries only"
        )
        (waiting if share >= WAITS_SHARE else none if share <= NONE_SHARE else []).append(c)
        spread = (
            f" (the {c.concurrency:,} requests did not all wait at once: they were answered "
            f"over {c.elapsed_s:.1f} s for a {c.delay_s:g} s wait)"
            if c.peak_queries_in_flight < TOGETHER_SHARE * c.concurrency
            else ""
        )
        said.append(
            f"{c.case} ({c.path}, pool {c.db_pool_size}): at most {c.peak_queries_in_flight:,} "
            f"queries ran in PostgreSQL at once{spread} and {on_socket:,} of the worker's "
            f"threads were blocked: {verdict}."
        )
    if waiting and none:
        peaks = ", ".join(f"{c.peak_threads:,}" for c in paths)
        said.append(
            f"So the paths do not differ in threads held ({peaks} at "
            f"the peak: Django's handler holds one per request) but in what the thread does: "
            f"{' and '.join(c.case for c in waiting)} wait for the query in it, "
            f"{' and '.join(c.case for c in none)} leaves it parked and awaits the query on the "
            "event loop. Every database path holds a pooled connection, and so a PostgreSQL "
            "server process, per in-flight query: DB_POOL_SIZE bounds the queries in flight."
        )
    return said


def sentences(costs: list[InflightCost]) -> list[str]:
    done = _measured(costs)
    views = [c for c in done if c.db_pool_size is None]
    paths = [c for c in done if c.db_pool_size is not None]
    said = [s for s in [_views_sentence(views)] if s] + _database_sentences(paths)
    if done:
        kib = [c.kib_per_request for c in done]
        said.append(
            f"Memory per in-flight request, worker RSS at the peak over idle: {min(kib):.0f} to "
            f"{max(kib):.0f} KiB across the {len(done)} cases measured."
        )
    said += [
        f"{c.case} ({c.server}): {c.concurrency:,} in flight, not more: {c.limited_by}."
        for c in costs
        if c.limited_by
    ]
    said += [f"{c.case} ({c.server}) could not be measured: {c.error}" for c in costs if c.error]
    return said


def rule(costs: list[InflightCost]) -> str:
    delays = sorted({c.delay_s for c in costs})
    return (
        "One worker per case, a fresh server; that many requests opened at once, each waiting "
        f"{' or '.join(f'{d:g}' for d in delays)} s in the view (the database paths: in "
        "PostgreSQL's pg_sleep, with DB_POOL_SIZE equal to the requests); the worker's RSS and "
        "thread count sampled every 50 ms, its threads waiting in the kernel on something other "
        "than a lock or epoll (/proc wait channels) every 250 ms, with the queries PostgreSQL "
        "was running. Per request: the peak over idle, divided by the requests. A thread "
        f"that waits for a query wakes every {PSYCOPG_WAIT_INTERVAL_S:g} s (psycopg checks for "
        "interrupts) and queues for the GIL, so a look counts only part of them as blocked: a "
        f"path holds a thread per query when at least {WAITS_SHARE:.0%} of its queries in "
        f"flight had a blocked thread, none when under {NONE_SHARE:.0%}."
    )


def markdown(record: Results) -> str:
    if not record.inflight:
        return ""
    lines = [
        f"## {TITLE}",
        "",
        *[f"- {s}" for s in sentences(record.inflight)],
        "",
        markdown_table(*rows(record.inflight)),
        "",
        rule(record.inflight),
        "",
    ]
    return "\n".join(lines) + "\n"


def html_section(record: Results) -> str:
    if not record.inflight:
        return ""
    items = "".join(f"<li>{html.escape(s)}</li>" for s in sentences(record.inflight))
    return (
        f"<h2>{html.escape(TITLE)}</h2><ul>{items}</ul>{html_table(*rows(record.inflight))}"
        f"<p>{html.escape(rule(record.inflight))}</p>"
    )
