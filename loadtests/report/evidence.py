"""How the first section ("What this means for your Django app", advice.py) quotes its
evidence: ratios with their CI and verdict, λ* with its bracket and binding limit, and the
conditions (machine, delay, users or SLO) a statement holds under. Generated from the records.
"""

from __future__ import annotations

from collections import defaultdict

from loadtests.analysis.capacity import CPU, POOL, SLOTS, CapacityEntry
from loadtests.analysis.comparisons import compare, measured, rate
from loadtests.analysis.comparisons import label as label_cell
from loadtests.analysis.db_compare import DbComparison
from loadtests.analysis.records import Cell
from loadtests.analysis.results import Results

from .findings import share_text

VIEW_SCENARIOS = ("async-api", "sync-api")
BLOCKING = "async-blocking"
BOUND = {SLOTS: "slot", POOL: "pool", CPU: "CPU"}


def find(cells: list[Cell], scenario: str, server: str, workers: int) -> Cell | None:
    return next(
        (c for c in cells if (c.scenario, c.server, c.workers) == (scenario, server, workers)),
        None,
    )


def ratio_text(a: Cell, b: Cell, name_a: str, name_b: str) -> tuple[str, bool | None]:
    """(evidence, significant or None when there is no interval)."""
    r = compare(a, b)
    figures = f"{rate(a.rps)} against {rate(b.rps)} req/s"
    if r is None:
        said = f"{a.rps / b.rps:.2f}x ({figures}; one run each: no CI, no verdict)"
        return f"{name_a} against {name_b}: {said}", None
    return f"{name_a} against {name_b}: {r.text()[:-1]}; {figures})", r.significant


def unseparated(verdicts: list[bool | None]) -> str:
    """Why the data cannot separate two choices: no interval, or one that holds 1."""
    if all(v is None for v in verdicts):
        return "no CI, one run or one search each: the run can claim no difference"
    if all(v is False for v in verdicts):
        return "not significant: the CI holds 1"
    return "not significant, or no CI"


def capacity_verdict(said: str) -> bool | None:
    """database.compare's verdict: True (separated), False (not significant), None (no CI)."""
    if "not significant" in said:
        return False
    return True if " is higher " in said else None


def closed_conditions(record: Results, cells: list[Cell]) -> str:
    p, m = record.meta.parameters, record.meta.machine
    where = "this one cell" if len(measured(record.cells)) == 1 else "these cells"
    return (
        f"{where}: {p.users} closed-loop users, a {p.delay:g} s wait per request, on this "
        f"machine ({m.cpus_available or m.cpu_count} CPU(s))"
    )


def compare_conditions(record: Results, c: DbComparison) -> str:
    """The database comparison's conditions (``sweep.db_compare``)."""
    m = record.meta.machine
    return (
        f"one {c.server} worker serving the three paths in turn, {c.users} closed-loop users, "
        f"a {c.delay_s:g} s query in PostgreSQL reading {c.rows} rows, DB_POOL_SIZE "
        f"{c.db_pool_size} (not binding), {c.rounds} paired rounds, on this machine "
        f"({m.cpus_available or m.cpu_count} CPU(s))"
    )


def open_conditions(record: Results, entries: list[CapacityEntry]) -> str:
    m = record.meta.machine
    slos = sorted({e.slo_p99_ms for e in entries})
    delays = sorted({e.delay_s for e in entries})
    return (
        f"open-model arrivals, SLO p99 <= {'/'.join(f'{s:g}' for s in slos)} ms, a "
        f"{'/'.join(f'{d:g}' for d in delays)} s wait per request, on this machine "
        f"({m.cpus_available or m.cpu_count} CPU(s))"
    )


def lam(e: CapacityEntry, bound: bool = True) -> str:
    held, failed = e.lambda_star_bracket
    ci = e.lambda_star_ci95
    ci_text = f", CI95 [{ci[0]:,.0f}, {ci[1]:,.0f}]" if ci else ", one search, no CI"
    bracket = f"bracket [{held or 0:,.0f}, {failed:,.0f})" if failed else "no failing step"
    binds = f"; {BOUND[e.limit.binds]}-bound" if bound and e.limit.binds in BOUND else ""
    return f"λ* {e.lambda_star_rps:,.0f} req/s ({bracket}{ci_text}{binds})"


def mapped(record: Results, scenarios) -> list[CapacityEntry]:
    return [
        e
        for e in record.capacity
        if e.scenario in scenarios and not e.variant and e.lambda_star_rps is not None
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
            models = "; ".join(
                f"{label_cell(c)}: {share_text(c)}" for c in (base, other) if share_text(c)
            )
            evidence.append(f"{text}" + (f" ({models})" if models else ""))
            verdicts.append(sig)
    return evidence, verdicts
