"""Comparisons with a verdict: each states a ratio of throughputs with its 95% interval.

The interval comes from ``stats.ratio`` over each cell's fresh runs (its windows grouped by
``run``): Welch's t on the runs' mean rates. When the interval holds 1 the sentence says "not
significant": the data cannot separate the two, and no threshold is needed. A cell of an old
results.json (windows of one run) gets no interval. Every sentence quotes the two rates it
compares, and any evidence it offers.
"""

from __future__ import annotations

from collections import defaultdict

from loadtests.model.latency import Latency

from .headroom import headroom
from .records import Cell
from .stats import Ratio, ratio

MIN_RUNS = 2


def measured(cells) -> list[Cell]:
    return [c for c in cells if c.rps is not None and not c.error]


def label(cell: Cell) -> str:
    where = cell.server if not cell.workers else f"{cell.server} x{cell.workers}"
    pool = f" (pool {cell.db_pool_size})" if cell.db_pool_size else ""
    return f"{cell.scenario}{pool} on {where}"


def rate(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def runs_of(cell: Cell) -> list[list[tuple[float, Latency]]]:
    """The cell's window rates grouped by fresh run (one group for an old file)."""
    runs: dict[int, list[tuple[float, Latency]]] = defaultdict(list)
    for w in cell.windows or []:
        runs[w.run or 1].append((w.rps, Latency()))
    return list(runs.values())


def compare(a: Cell, b: Cell) -> Ratio | None:
    """None unless both cells have at least MIN_RUNS fresh runs: windows of a single run share
    its start-up luck, and an interval from them alone would claim more than they know."""
    runs_a, runs_b = runs_of(a), runs_of(b)
    if min(len(runs_a), len(runs_b)) < MIN_RUNS:
        return None
    return ratio(runs_a, runs_b)


def versus(a: Cell, b: Cell, a_name: str | None = None, b_name: str | None = None) -> str:
    """ "A against B: 1.02x (95% CI 0.97-1.07, not significant; 160 against 157 req/s)"."""
    r = compare(a, b)
    figures = f"{rate(a.rps)} against {rate(b.rps)} req/s"
    head = f"{a_name or label(a)} against {b_name or label(b)}"
    if r is None:
        return (
            f"{head}: {a.rps / b.rps:.2f}x ({figures}; fewer than {MIN_RUNS} fresh runs "
            "each: no interval, no verdict)"
        )
    return f"{head}: {r.text()[:-1]}; {figures})"


def _find(cells, scenario: str, server: str, workers: int) -> Cell | None:
    for cell in measured(cells):
        if (cell.scenario, cell.server, cell.workers) == (scenario, server, workers):
            return cell
    return None


def _threads(cell: Cell) -> str:
    peak = cell.server_process.threads if cell.server_process else None
    return f"{peak} threads at peak" if peak else "threads not sampled"


def sync_vs_async(cells) -> list[str]:
    """The async and the sync view, per server kind and worker count."""
    parts, delays = [], set()
    for cell in sorted(measured(cells), key=lambda c: (c.server, c.workers)):
        if cell.scenario != "async-api":
            continue
        sync = _find(cells, "sync-api", cell.server, cell.workers)
        if sync is None or not sync.rps:
            continue
        delays |= {cell.delay_s, sync.delay_s}
        parts.append(
            versus(cell, sync, f"{cell.server} x{cell.workers}: async", "sync")
            + f" (the sync cell's server: {_threads(sync)}; ceiling: {sync.model or 'n/a'})"
        )
    if not parts:
        return []
    wait = f"{delays.pop():g} s " if len(delays) == 1 and None not in delays else ""
    return [
        f"async-api against sync-api (the same {wait}wait, awaited or slept): "
        + "; ".join(parts)
        + "."
    ]


def workers(cells) -> list[str]:
    """Each scenario and server: the most workers against the fewest."""
    series: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    for cell in measured(cells):
        series[(cell.scenario, cell.server, cell.db_pool_size or 0)].append(cell)
    out = []
    for _, group in sorted(series.items()):
        counts = sorted({c.workers for c in group})
        if len(counts) < 2:
            continue
        first = next(c for c in group if c.workers == counts[0])
        last = next(c for c in group if c.workers == counts[-1])
        room = headroom(first)
        share = f"{room.share:.0%}" if room and room.share is not None else "n/a"
        out.append(
            "Workers: "
            + versus(last, first)
            + f". Ceilings: {first.model or 'n/a'} for x{first.workers}, {last.model or 'n/a'} "
            f"for x{last.workers}; x{first.workers} ran at {share} of its ceiling."
        )
    return out


def server_kinds(cells) -> list[str]:
    """The same scenario and worker count under two server kinds."""
    out = []
    groups: dict[tuple[str, int, int], list[Cell]] = defaultdict(list)
    for cell in measured(cells):
        groups[(cell.scenario, cell.workers, cell.db_pool_size or 0)].append(cell)
    for _, group in sorted(groups.items()):
        kinds = sorted({c.server for c in group})
        if len(kinds) < 2:
            continue
        first = next(c for c in group if c.server == kinds[0])
        for kind in kinds[1:]:
            other = next(c for c in group if c.server == kind)
            out.append(
                "Server kinds: "
                + versus(other, first)
                + f" (ceilings: {other.model or 'n/a'}; {first.model or 'n/a'})."
            )
    return out


def fanouts(cells) -> list[str]:
    """Each fan-out style against the sequential baseline, and the two transports."""
    out = []
    for base in measured(cells):
        if base.scenario != "sequential":
            continue
        parts = [
            versus(other, base, other.scenario, "sequential")
            for name in ("async-fanout", "async-fanout-httpx", "thread-fanout")
            if (other := _find(cells, name, base.server, base.workers)) is not None
        ]
        if parts:
            out.append(f"Fan-outs on {base.server} x{base.workers}: " + "; ".join(parts) + ".")
    for httpx_cell in measured(cells):
        if httpx_cell.scenario != "async-fanout-httpx":
            continue
        aio = _find(cells, "async-fanout", httpx_cell.server, httpx_cell.workers)
        if aio is None:
            continue
        calls = httpx_cell.upstream.call_latency_ms if httpx_cell.upstream else None
        cpu = httpx_cell.server_process.cpu_percent if httpx_cell.server_process else None
        evidence = []
        if calls is not None and calls.p50 is not None:
            evidence.append(
                f"its upstream calls took {calls.p50:.0f} ms at the median for a "
                f"{(httpx_cell.delay_s or 0) * 1000:.0f} ms delay"
            )
        if cpu is not None:
            evidence.append(f"the server used {cpu:.0f}% of a core")
        out.append(
            "Transports: "
            + versus(aio, httpx_cell, "aiohttp's", "httpx's own")
            + (f"; with httpx's, {' and '.join(evidence)}" if evidence else "")
            + "."
        )
    return out


def repeated(cells) -> list[str]:
    """A configuration measured twice (two cells): what the lab's noise alone looks like."""
    seen: dict[tuple[str, int, str, int], Cell] = {}
    out = []
    for cell in measured(cells):
        key = (cell.server, cell.workers, cell.scenario, cell.db_pool_size or 0)
        if key in seen:
            out.append("The same configuration twice: " + versus(cell, seen[key]) + ".")
        else:
            seen[key] = cell
    return out


def pools(cells) -> list[str]:
    """A database path at its largest pool against its smallest (same server and workers)."""
    series: dict[tuple[str, str, int], list[Cell]] = defaultdict(list)
    for cell in measured(cells):
        if cell.db_pool_size:
            series[(cell.scenario, cell.server, cell.workers)].append(cell)
    out = []
    for _, group in sorted(series.items()):
        group.sort(key=lambda c: c.db_pool_size)
        if group[0].db_pool_size == group[-1].db_pool_size:
            continue
        first, last = group[0], group[-1]
        out.append(
            "Pool sizes: "
            + versus(last, first)
            + f" (models: {last.model or 'n/a'}; {first.model or 'n/a'})."
        )
    return out


def all_comparisons(cells) -> list[str]:
    return [
        *sync_vs_async(cells),
        *workers(cells),
        *server_kinds(cells),
        *pools(cells),
        *fanouts(cells),
        *repeated(cells),
    ]
