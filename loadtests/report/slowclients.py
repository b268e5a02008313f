"""The report's section "Slow clients": from ``results.json``'s ``slow_clients`` records alone
(``loadtests.sweep.slowclients``), per server kind the normal users' req/s and p99 with no slow
connection and with N of them; sentences generated from those values say which kinds were held
(their normal users lost most of their throughput), how each kind reads a request (who holds a
thread per connection), and the deployment advice that follows.
"""

from __future__ import annotations

import html

from loadtests.analysis.records import SlowClientsRun, SlowClientsWindow
from loadtests.analysis.results import Results
from loadtests.model.experiment import READS_REQUESTS, THREAD_PER_CONNECTION

from .tables import Table, html_table, markdown_table

TITLE = "Slow clients: what N connections that trickle their headers do to normal users"
# A kind was "held" when its normal users kept less than this share of their req/s, or failed.
HELD_BELOW = 0.1


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _window(w: SlowClientsWindow) -> str:
    latency = f"p99 {_n(w.p99_ms)} ms" if w.p99_ms is not None else "no answer"
    failed = f", {w.failures} failed" if w.failures else ""
    return f"{_n(w.rps)} req/s, {latency}{failed}"


def _pair(run: SlowClientsRun) -> tuple[SlowClientsWindow, SlowClientsWindow] | None:
    if run.error or len(run.windows) < 2 or run.windows[0].slow_clients != 0:
        return None
    return run.windows[0], run.windows[-1]


def held(run: SlowClientsRun) -> bool | None:
    """True when the slow connections took (almost) all of the normal users' throughput."""
    pair = _pair(run)
    if pair is None:
        return None
    calm, crowded = pair
    return crowded.rps < HELD_BELOW * calm.rps or (crowded.failures > 0 and calm.failures == 0)


def _slots(run: SlowClientsRun) -> str:
    return (
        f"{run.workers} workers x {run.threads} threads"
        if run.server in THREAD_PER_CONNECTION
        else f"{run.workers} workers"
    )


def rows(runs: list[SlowClientsRun]) -> Table:
    counts = sorted({w.slow_clients for r in runs for w in r.windows})
    header = ["server", "workers", *[f"N = {n}" for n in counts], "held"]
    body = []
    for r in runs:
        by_n = {w.slow_clients: w for w in r.windows}
        cells = [_window(by_n[n]) if n in by_n else "-" for n in counts]
        if r.error:
            cells[-1:] = [f"failed: {r.error[:80]}"]
        verdict = held(r)
        body.append(
            [r.server, _slots(r), *cells, "-" if verdict is None else "yes" if verdict else "no"]
        )
    return header, body


def sentences(runs: list[SlowClientsRun]) -> list[str]:
    said, held_kinds, free_kinds = [], [], []
    for r in runs:
        pair, verdict = _pair(r), held(r)
        if pair is None:
            continue
        calm, crowded = pair
        (held_kinds if verdict else free_kinds).append(r)
        share = crowded.rps / calm.rps if calm.rps else 0.0
        expected = (r.server in THREAD_PER_CONNECTION) == verdict
        failed = (
            f", {crowded.failures} requests failed (a user gives up after {r.user_timeout_s:g} s)"
            if crowded.failures
            else ""
        )
        said.append(
            f"{r.server} ({_slots(r)}): {calm.rps:,.0f} req/s with no slow connection, "
            f"{crowded.rps:,.0f} ({share:.0%}) with {crowded.slow_clients}{failed}"
            + f"; it reads a request {READS_REQUESTS.get(r.server, 'in a way not described')}"
            + ("" if expected else " (not what its design predicts: see the run's logs)")
            + "."
        )
    if held_kinds:
        kinds = ", ".join(r.server for r in held_kinds)
        slots = ", ".join(f"{r.workers * r.threads}" for r in held_kinds)
        got = ", ".join(f"{r.windows[-1].rps:,.0f} req/s" for r in held_kinds)
        others = (
            f" {', '.join(r.server for r in free_kinds)} kept serving: only a complete "
            "request takes a worker's thread or event-loop time."
            if free_kinds
            else ""
        )
        said.append(
            f"Who holds a thread per connection: {kinds}. Each connection takes a thread as soon "
            "as it is readable, and the thread reads until the headers end; "
            f"{held_kinds[0].windows[-1].slow_clients} slow connections outnumber its {slots} "
            f"threads: its normal users got {got}." + others
        )
        said.append(
            f"Deployment: put a buffering reverse proxy (nginx, whose proxy_request_buffering "
            f"is on by default) in front of {kinds}: it reads each request whole, however "
            "slowly the client sends it, and passes the server only complete requests; a "
            "thread-per-connection server must never face clients directly."
        )
    elif free_kinds:
        said.append(
            "No kind measured here was held: each reads requests on an event loop (or Rust's "
            "I/O), so slow connections cost it sockets, not threads."
        )
    said += [f"{r.server} could not be measured: {r.error}" for r in runs if r.error]
    return said


def rule(runs: list[SlowClientsRun]) -> str:
    r = runs[0]
    return (
        f"A slow connection sends a request line, then one header line every "
        f"{r.trickle_interval_s:g} s, never finishing; meanwhile {r.users} normal users in a "
        f"closed loop (a new connection per request, giving up after {r.user_timeout_s:g} s) "
        f"measure for {r.seconds:g} s per N, on loopback; a fresh server per kind."
    )


def markdown(record: Results) -> str:
    if not record.slow_clients:
        return ""
    runs = record.slow_clients
    lines = [
        f"## {TITLE}",
        "",
        *[f"- {s}" for s in sentences(runs)],
        "",
        markdown_table(*rows(runs)),
        "",
        rule(runs),
        "",
    ]
    return "\n".join(lines) + "\n"


def html_section(record: Results) -> str:
    if not record.slow_clients:
        return ""
    runs = record.slow_clients
    items = "".join(f"<li>{html.escape(s)}</li>" for s in sentences(runs))
    return (
        f"<h2>{html.escape(TITLE)}</h2><ul>{items}</ul>{html_table(*rows(runs))}"
        f"<p>{html.escape(rule(runs))}</p>"
    )
