"""The report's first section, "What this means for your Django app": the reader's questions
answered from the run's data alone.

For each question the run can answer (sync or async view, which server, how many workers, the
fan-out style, the database path) one ``Answer``: what the data support, the evidence quoted
beside it (ratios with their CI and verdict, λ* with its bracket, the limit that binds and its
arithmetic) and the conditions it holds under. A question the run has no data for is left out;
where the data cannot separate two choices the answer says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from loadtests.analysis.capacity import POOL, SLOTS
from loadtests.analysis.comparisons import measured, rate
from loadtests.analysis.headroom import headroom
from loadtests.analysis.records import Cell
from loadtests.analysis.results import Results
from loadtests.analysis.thresholds import REACHED_SHARE

from . import database, db_comparison
from .capacity import _series, label, workers_comparison
from .evidence import (
    BLOCKING,
    BOUND,
    VIEW_SCENARIOS,
    capacity_verdict,
    closed_conditions,
    closed_pairs,
    compare_conditions,
    find,
    lam,
    mapped,
    open_conditions,
    ratio_text,
    unseparated,
)
from .findings import share_text
from .headline import compare_lambdas

TITLE = "What this means for your Django app"
FANOUT_SCENARIOS = ("async-fanout", "thread-fanout")
# A cell "reached" its ceiling at this share: then the ceiling, not the view, set the figure.
MODEL_BOUND = REACHED_SHARE


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    evidence: list[str]
    conditions: str


def _p99_text(c: Cell, label: str) -> str | None:
    """'LABEL p99 N ms (95% CI a-b)', or None when the cell has no p99."""
    lat = c.latency_ms
    if not lat or lat.p99 is None:
        return None
    ci = lat.p99_ci95
    return f"{label} p99 {lat.p99:,.0f} ms" + (
        f" (95% CI {ci[0]:,.0f}-{ci[1]:,.0f})" if ci else " (no CI)"
    )


def sync_or_async(record: Results) -> Answer | None:
    cells = measured(record.cells)
    evidence, verdicts, model_bound = [], [], []
    for a in cells:
        s = find(cells, "sync-api", a.server, a.workers) if a.scenario == "async-api" else None
        if s is None:
            continue
        text, sig = ratio_text(a, s, f"async on {a.server} x{a.workers}", "sync")
        evidence.append(text)
        verdicts.append(sig)
        shares = [room.share if (room := headroom(c)) else None for c in (a, s)]
        if not sig and all(x is not None and x >= MODEL_BOUND for x in shares):
            model_bound.append(
                f"on {a.server} x{a.workers} both reached {shares[0]:.0%} and {shares[1]:.0%} "
                f"of their ceiling ({s.model})"
            )
    entries = mapped(record, VIEW_SCENARIOS)
    by = {(e.server, e.workers, e.threads, e.scenario): e for e in entries}
    for e in entries:
        sync = by.get((e.server, e.workers, e.threads, "sync-api"))
        if e.scenario == "async-api" and sync is not None:
            bound = "/".join(sorted({BOUND.get(x.limit.binds, "?") for x in (e, sync)}))
            said = compare_lambdas(e, sync)
            verdicts.append(capacity_verdict(said))
            evidence.append(f"λ* under {label(e)}: {said}; {bound}-bound")
            if e.limit.binds == sync.limit.binds == SLOTS:
                model_bound.append(f"under {label(e)} both are slot-bound ({e.limit.model})")
    if not evidence:
        return None
    if any(verdicts):
        apart = [e for e, v in zip(evidence, verdicts, strict=True) if v]
        answer = "Here the data separate the two view styles: " + "; ".join(apart) + "."
    else:
        answer = (
            "For a view that waits on I/O, the data cannot separate async from sync here "
            f"({unseparated(verdicts)}): choose by what the view calls, not for speed."
        )
    if model_bound:
        answer += (
            " An equal throughput at a fixed concurrency means the ceiling (the users in "
            "flight, or the server kind's slots, whichever is fewer), not the view style, set "
            "the figure: " + "; ".join(model_bound) + "."
        )
    conditions = closed_conditions(record, cells) if cells else ""
    if entries:
        conditions += ("; " if conditions else "") + open_conditions(record, entries)
    return Answer("Sync or async view?", answer, evidence, conditions)


def which_server(record: Results) -> Answer | None:
    entries = [e for e in mapped(record, VIEW_SCENARIOS) if e.workers == 1]
    cells = measured(record.cells)
    closed, verdicts = closed_pairs(cells, lambda c: (c.scenario, c.workers), lambda c: c.server)
    if len({e.server for e in entries}) < 2:
        entries = []
    if not (entries or closed):
        return None
    evidence, parts, conditions = list(closed), [], []
    if closed:
        parts.append(
            "At a fixed number of users (closed loop) each kind reaches about its ceiling, so "
            "the ratios compare the ceilings (workers x threads for gthread, the users for an "
            "ASGI worker)" + (f" ({unseparated(verdicts)})" if not any(verdicts) else "") + "."
        )
        conditions.append(closed_conditions(record, cells))
    if entries:
        for scenario in VIEW_SCENARIOS:
            mine = sorted(
                (e for e in entries if e.scenario == scenario), key=lambda e: -e.lambda_star_rps
            )
            evidence += [
                f"{scenario} under {label(e)}: {lam(e, bound=False)}: {e.limit.sentence}"
                for e in mine
            ]
        kinds = []
        for server in dict.fromkeys(e.server for e in entries):
            mine = [e for e in entries if e.server == server]
            lams = sorted({round(e.lambda_star_rps) for e in mine})
            binds = "/".join(sorted({BOUND.get(e.limit.binds, "unknown") for e in mine}))
            kinds.append(
                f"{label(mine[0])} λ* {' to '.join(f'{x:,}' for x in lams)} req/s, {binds}-bound"
            )
        slot = [e for e in entries if e.limit.binds == SLOTS]
        why = (
            f"; the slot-bound kind ran out of threads ({slot[0].limit.model}) long before its CPU"
            if slot
            else ""
        )
        parts.append(
            f"Open model, one worker: {'; '.join(kinds)}{why}. A CPU-bound kind holds until "
            "this machine's CPU runs out; between kinds whose brackets overlap, or with one "
            "search and no CI each, the run cannot rank them."
        )
        conditions.append(open_conditions(record, entries))
    return Answer("Which server?", " ".join(parts), evidence, "; ".join(conditions))


def how_many_workers(record: Results) -> Answer | None:
    evidence = []
    for key, series in _series(mapped(record, VIEW_SCENARIOS)).items():
        if len(series) < 2:
            continue
        evidence.append(
            f"{workers_comparison(key, series)}; slot arithmetic: "
            + "; ".join(f"x{e.workers}: {e.limit.model}, {lam(e)}" for e in series)
        )
    entries = mapped(record, VIEW_SCENARIOS)
    conditions = [open_conditions(record, entries)] if evidence else []
    cells = measured(record.cells)
    closed, _ = closed_pairs(cells, lambda c: (c.scenario, c.server), lambda c: c.workers)
    if closed:
        conditions.append(closed_conditions(record, cells))
    if not (evidence or closed):
        return None
    answer = (
        "Where slots bind, capacity grows with workers x threads / service time: add workers "
        "(or threads) until the CPU ceiling binds instead; past that, more add nothing. At a "
        "fixed number of users, more slots than users add nothing either."
    )
    return Answer("How many workers or threads?", answer, evidence + closed, "; ".join(conditions))


def fanout_style(record: Results) -> Answer | None:
    cells = measured(record.cells)
    evidence, verdicts = [], []
    for a in cells:
        t = find(cells, "thread-fanout", a.server, a.workers)
        if a.scenario != "async-fanout" or t is None:
            continue
        text, sig = ratio_text(a, t, f"async-fanout on {a.server} x{a.workers}", "thread-fanout")
        evidence.append(text)
        verdicts.append(sig)
        evidence += [text for c in (a, t) if (text := _p99_text(c, c.scenario))]
    if not evidence:
        return None
    if any(v for v in verdicts):
        answer = "The ratio's CI leaves 1 out: the fan-out styles' throughput differs here."
    else:
        answer = (
            "The data cannot separate the two fan-out styles' throughput here "
            f"({unseparated(verdicts)}); compare their tail latencies."
        )
    return Answer(
        "Fan out with asyncio or with threads?",
        answer,
        evidence,
        closed_conditions(record, cells) + f", fan-out {record.meta.parameters.fanout}",
    )


def database_path(record: Results) -> Answer | None:
    entries = [e for e in database.entries_of(record) if e.lambda_star_rps is not None]
    compared = record.db_comparison
    compared = compared if compared is not None and compared.contrasts else None
    if not (entries or compared):
        return None
    if compared is not None:
        said = f"{db_comparison.meaning(compared)} {db_comparison.headline(compared)}"
        paired = Answer(
            "",
            said.strip(),
            [db_comparison.contrast_text(x) for x in compared.contrasts],
            compare_conditions(record, compared),
        )
        if not entries:
            return Answer("Which database path?", paired.answer, paired.evidence, paired.conditions)
    evidence = [
        f"{e.scenario} under {label(e)}: {lam(e, bound=False)}: {e.limit.sentence}" for e in entries
    ]
    evidence += [
        database.compare(a, b)
        for a, b in combinations(entries, 2)
        if database._config(a) == database._config(b)
    ]
    pooled = [e for e in entries if e.limit.binds == POOL]
    if pooled and len(pooled) == len(entries):
        answer = (
            "Every path was pool-bound: the connection pool, not the path (sync ORM, async ORM "
            "or native async), set the capacity; size DB_POOL_SIZE (and PostgreSQL's "
            "max_connections) first."
        )
    else:
        answer = "The paths' limits differ; see each λ* and the limit that binds."
    conditions = open_conditions(record, entries)
    if compared is not None:
        answer = f"{paired.answer} At capacity: {answer}"
        evidence = paired.evidence + evidence
        conditions = f"{paired.conditions}; {conditions}"
    return Answer("Which database path?", answer, evidence, conditions)


def one_cell(record: Results) -> Answer | None:
    """A run of a single cell and no capacity map (the smoke profile): what that cell says."""
    cells = measured(record.cells)
    if len(cells) != 1 or record.capacity:
        return None
    (c,) = cells
    ci = c.rps_ci95
    evidence = [
        f"{rate(c.rps)} req/s" + (f" (95% CI {ci[0]:,.0f}-{ci[1]:,.0f})" if ci else " (no CI)")
    ]
    if share_text(c):
        evidence.append(share_text(c))
    if p99 := _p99_text(c, "client"):
        evidence.append(p99)
    answer = (
        f"This run measured one cell, {c.scenario} on {c.server} x{c.workers}: it shows what "
        "that one configuration serves, and has nothing to compare it with, so it cannot say "
        "which view style, server or worker count to choose (make bench measures those)."
    )
    return Answer("What did this run measure?", answer, evidence, closed_conditions(record, cells))


def blocking(record: Results) -> Answer | None:
    """The blocking async view: what one blocked event loop per worker serves."""
    cells = [c for c in measured(record.cells) if c.scenario == BLOCKING]
    if not cells:
        return None
    evidence = []
    for c in cells:
        ci = f" (95% CI {c.rps_ci95[0]:,.1f}-{c.rps_ci95[1]:,.1f})" if c.rps_ci95 else " (no CI)"
        share = f", {share_text(c)}" if share_text(c) else ""
        p50 = f"; client p50 {c.latency_ms.p50:,.0f} ms" if c.latency_ms else ""
        evidence.append(
            f"{BLOCKING} on {c.server} x{c.workers}: {rate(c.rps)} req/s{ci}{share}{p50}"
        )
        other = find(measured(record.cells), "async-api", c.server, c.workers)
        if other is not None:
            evidence.append(ratio_text(other, c, "async-api", BLOCKING)[0])
    answer = (
        "Never call blocking code from an async view: it holds the worker's event loop, so "
        "each worker serves one request at a time, however many users wait."
    )
    return Answer(
        "What if an async view blocks?", answer, evidence, closed_conditions(record, cells)
    )


def answers(record: Results) -> list[Answer]:
    found = (
        one_cell,
        sync_or_async,
        which_server,
        how_many_workers,
        fanout_style,
        blocking,
        database_path,
    )
    return [a for q in found if (a := q(record)) is not None]
