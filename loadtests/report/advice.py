"""The report's first section, "What this means for your Django app": the reader's questions
answered from the run's data alone.

For each question the run can answer (sync or async view, which server, how many workers, the
fan-out style, the database path) one ``Answer``: what the data support, the evidence quoted
beside it (ratios with their CI and verdict, λ* with its bracket, the limit that binds and its
arithmetic) and the conditions it holds under. A question the run has no data for is left out;
where the data cannot separate two choices the answer says so. The rules that choose each
sentence are here; the sentences are ``templates/advice.j2``'s.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

from loadtests.analysis.capacity import CPU, POOL, SLOTS, CapacityEntry
from loadtests.analysis.comparisons import compare, find, measured
from loadtests.analysis.comparisons import label as label_cell
from loadtests.analysis.headroom import headroom
from loadtests.analysis.records import Cell
from loadtests.analysis.results import Results
from loadtests.analysis.thresholds import REACHED_SHARE

from . import database, db_comparison
from .capacity import compare_lambdas, label, worker_lines, workers_comparison
from .findings import pairs, share_text
from .jinja import Sentences

say = Sentences("advice.j2")
TITLE = "What this means for your Django app"
VIEW_SCENARIOS = ("async-api", "sync-api")
BLOCKING = "async-blocking"
BOUND = {SLOTS: "slot", POOL: "pool", CPU: "CPU"}
# A cell "reached" its ceiling at this share: then the ceiling, not the view, set the figure.
MODEL_BOUND = REACHED_SHARE


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    evidence: list[str]
    conditions: str


def ratio_text(a: Cell, b: Cell, name_a: str, name_b: str) -> tuple[str, bool | None]:
    """(evidence, significant or None when there is no interval)."""
    r = compare(a, b)
    said = say.ratio(name_a, name_b, a.rps, b.rps, r.text()[:-1] if r else None)
    return said, r.significant if r else None


def capacity_verdict(said: str) -> bool | None:
    """database.compare's verdict: True (separated), False (not significant), None (no CI)."""
    if "not significant" in said:
        return False
    return True if " is higher " in said else None


def _cpus(record: Results) -> int:
    m = record.meta.machine
    return m.cpus_available or m.cpu_count


def closed_conditions(record: Results) -> str:
    one = len(measured(record.cells)) == 1
    return say.closed_conditions(one, record.meta.parameters, _cpus(record))


def open_conditions(record: Results, entries: list[CapacityEntry]) -> str:
    slos, delays = sorted({e.slo_p99_ms for e in entries}), sorted({e.delay_s for e in entries})
    return say.open_conditions(slos, delays, _cpus(record))


def lam(e: CapacityEntry, bound: bool = True) -> str:
    return say.lam(e, bound, BOUND.get(e.limit.binds))


def mapped(record: Results, scenarios) -> list[CapacityEntry]:
    return [
        e
        for e in record.capacity
        if e.scenario in scenarios and not e.variant and e.lambda_star_rps is not None
    ]


def _each_mapped(entries: list[CapacityEntry]) -> list[str]:
    return [
        say.mapped(e.scenario, label(e), lam(e, bound=False), e.limit.sentence) for e in entries
    ]


def closed_pairs(cells: list[Cell], fixed, vary) -> tuple[list[str], list[bool | None]]:
    """Cells of the view scenarios alike in ``fixed``: the others against the first by ``vary``,
    each with the share of its ceiling reached, what sets it and its arithmetic."""
    groups: dict[tuple, list[Cell]] = defaultdict(list)
    for c in cells:
        if c.scenario in VIEW_SCENARIOS:
            groups[fixed(c)].append(c)
    evidence, verdicts = [], []
    for group in groups.values():
        group.sort(key=vary)
        for other in group[1:] if len({vary(c) for c in group}) > 1 else []:
            base = group[0]
            text, sig = ratio_text(other, base, label_cell(other), label_cell(base))
            models = [f"{label_cell(c)}: {share_text(c)}" for c in (base, other) if share_text(c)]
            evidence.append(say.with_models(text, models))
            verdicts.append(sig)
    return evidence, verdicts


def sync_or_async(record: Results) -> Answer | None:
    cells = measured(record.cells)
    evidence, verdicts, model_bound = [], [], []
    for a, s in pairs(cells, "async-api", "sync-api"):
        text, sig = ratio_text(a, s, f"async on {a.server} x{a.workers}", "sync")
        evidence.append(text)
        verdicts.append(sig)
        shares = [room.share if (room := headroom(c)) else None for c in (a, s)]
        if not sig and all(x is not None and x >= MODEL_BOUND for x in shares):
            model_bound.append(say.both_reached(a, shares, s.model))
    entries = mapped(record, VIEW_SCENARIOS)
    by = {(e.server, e.workers, e.threads, e.scenario): e for e in entries}
    for e in entries:
        sync = by.get((e.server, e.workers, e.threads, "sync-api"))
        if e.scenario == "async-api" and sync is not None:
            bound = "/".join(sorted({BOUND.get(x.limit.binds, "?") for x in (e, sync)}))
            said = compare_lambdas(e, sync)
            verdicts.append(capacity_verdict(said))
            evidence.append(say.lambdas_under(label(e), said, bound))
            if e.limit.binds == sync.limit.binds == SLOTS:
                model_bound.append(say.both_slot_bound(label(e), e.limit.model))
    if not evidence:
        return None
    apart = [e for e, v in zip(evidence, verdicts, strict=True) if v]
    answer = say.sync_or_async(apart, say.unseparated(verdicts), model_bound)
    conditions = [closed_conditions(record)] if cells else []
    conditions += [open_conditions(record, entries)] if entries else []
    return Answer("Sync or async view?", answer, evidence, "; ".join(conditions))


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
        parts.append(say.closed_servers(None if any(verdicts) else say.unseparated(verdicts)))
        conditions.append(closed_conditions(record))
    if entries:
        for scenario in VIEW_SCENARIOS:
            mine = [e for e in entries if e.scenario == scenario]
            evidence += _each_mapped(sorted(mine, key=lambda e: -e.lambda_star_rps))
        kinds = []
        for server in dict.fromkeys(e.server for e in entries):
            mine = [e for e in entries if e.server == server]
            lams = sorted({round(e.lambda_star_rps) for e in mine})
            binds = "/".join(sorted({BOUND.get(e.limit.binds, "unknown") for e in mine}))
            kinds.append(say.server_kind(label(mine[0]), lams, binds))
        slot = [e.limit.model for e in entries if e.limit.binds == SLOTS]
        parts.append(say.open_servers(kinds, slot[0] if slot else None))
        conditions.append(open_conditions(record, entries))
    return Answer("Which server?", " ".join(parts), evidence, "; ".join(conditions))


def how_many_workers(record: Results) -> Answer | None:
    evidence = [
        say.worker_steps(workers_comparison(key, series), series, [lam(e) for e in series])
        for key, series in worker_lines(mapped(record, VIEW_SCENARIOS)).items()
        if len(series) >= 2
    ]
    entries = mapped(record, VIEW_SCENARIOS)
    conditions = [open_conditions(record, entries)] if evidence else []
    cells = measured(record.cells)
    closed, _ = closed_pairs(cells, lambda c: (c.scenario, c.server), lambda c: c.workers)
    if closed:
        conditions.append(closed_conditions(record))
    if not (evidence or closed):
        return None
    answer = say.how_many_workers()
    return Answer("How many workers or threads?", answer, evidence + closed, "; ".join(conditions))


def fanout_style(record: Results) -> Answer | None:
    cells = measured(record.cells)
    evidence, verdicts = [], []
    for a, t in pairs(cells, "async-fanout", "thread-fanout"):
        text, sig = ratio_text(a, t, f"async-fanout on {a.server} x{a.workers}", "thread-fanout")
        evidence.append(text)
        verdicts.append(sig)
        evidence += [say.p99(c.latency_ms, c.scenario) for c in (a, t) if _has_p99(c)]
    if not evidence:
        return None
    answer = say.fanout_style(any(verdicts), say.unseparated(verdicts))
    conditions = say.fanout_conditions(closed_conditions(record), record.meta.parameters.fanout)
    return Answer("Fan out with asyncio or with threads?", answer, evidence, conditions)


def _has_p99(c: Cell) -> bool:
    return bool(c.latency_ms) and c.latency_ms.p99 is not None


def database_path(record: Results) -> Answer | None:
    entries = [e for e in database.entries_of(record) if e.lambda_star_rps is not None]
    compared = record.db_comparison
    compared = compared if compared is not None and compared.contrasts else None
    if not (entries or compared):
        return None
    evidence, conditions, paired = [], [], None
    if compared is not None:
        paired = f"{db_comparison.meaning(compared)} {db_comparison.headline(compared)}".strip()
        evidence = [db_comparison.contrast_text(x) for x in compared.contrasts]
        conditions = [say.compare_conditions(compared, _cpus(record))]
        if not entries:
            return Answer("Which database path?", paired, evidence, conditions[0])
    evidence += _each_mapped(entries)
    evidence += [
        database.compare(a, b)
        for a, b in combinations(entries, 2)
        if database._config(a) == database._config(b)
    ]
    pooled = [e for e in entries if e.limit.binds == POOL]
    answer = say.database_path(paired, pooled and len(pooled) == len(entries))
    conditions.append(open_conditions(record, entries))
    return Answer("Which database path?", answer, evidence, "; ".join(conditions))


def one_cell(record: Results) -> Answer | None:
    """A run of a single cell and no capacity map (the smoke profile): what that cell says."""
    cells = measured(record.cells)
    if len(cells) != 1 or record.capacity:
        return None
    (c,) = cells
    evidence = [say.one_rate(c), *([share_text(c)] if share_text(c) else [])]
    evidence += [say.p99(c.latency_ms, "client")] if _has_p99(c) else []
    return Answer(
        "What did this run measure?", say.one_cell(c), evidence, closed_conditions(record)
    )


def blocking(record: Results) -> Answer | None:
    """The blocking async view: what one blocked event loop per worker serves."""
    cells = [c for c in measured(record.cells) if c.scenario == BLOCKING]
    if not cells:
        return None
    evidence = []
    for c in cells:
        evidence.append(say.blocking_rate(c, BLOCKING, share_text(c)))
        other = find(record.cells, "async-api", c.server, c.workers)
        if other is not None:
            evidence.append(ratio_text(other, c, "async-api", BLOCKING)[0])
    conditions = closed_conditions(record)
    return Answer("What if an async view blocks?", say.blocking(), evidence, conditions)


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
