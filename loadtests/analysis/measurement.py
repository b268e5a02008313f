"""Sentences on the measurement itself: did each cell measure what it claims to?

Little's law on each cell's own data, how long warm-up took by the steady rule, whether the
server and the client counted the same requests in the same windows, and how evenly the
workers shared them. Each sentence quotes the figures it judges by.
"""

from __future__ import annotations

from . import comparisons, littles
from .records import Cell


def _span(values: list[float], fmt: str = "{:.1f}") -> str:
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return low if low == high else f"{low}-{high}"


def littles_law(cells: list[Cell]) -> list[str]:
    checked = [
        c
        for c in comparisons.measured(cells)
        if c.achieved_concurrency is not None and c.concurrency_tolerance is not None
    ]
    if not checked:
        return []
    above = [c for c in checked if littles.FLAG in c.flags]
    shares = [littles.outside_share(c.users, c.achieved_concurrency) * 100 for c in checked]
    where = (
        f"{len(checked) - len(above)} of {len(checked)} cells"
        if len(checked) > 1
        else ("its one cell" if not above else "no cell")
    )
    text = f"Little's law: rps x mean latency stayed within its tolerance of the users in {where}"
    if above:
        text += "; above it (users in lockstep, or edges that disagree): " + ", ".join(
            f"{comparisons.label(c)} {c.achieved_concurrency:.2f} for {c.users} users "
            f"(tolerance {c.concurrency_tolerance:.2f})"
            for c in above
        )
    text += (
        f". The users spent {_span(shares)}% of their time between requests (Locust's own "
        "work on each answer)."
    )
    return [text]


def warmup(cells: list[Cell]) -> list[str]:
    runs = [w for c in comparisons.measured(cells) for w in c.warmups or []]
    ruled = [w for w in runs if w.steady is not None]
    if not ruled:
        return []
    never = [comparisons.label(c) for c in cells if "never-steady" in c.flags]
    text = (
        f"Warm-up by the steady rule took {_span([w.seconds for w in ruled])} s over "
        f"{len(ruled)} fresh runs"
    )
    return [text + (f"; never steady: {', '.join(never)}." if never else "; every run settled.")]


def counts(cells: list[Cell]) -> list[str]:
    """Server and client requests per window (the server's read from its metric files)."""
    pairs = [
        (w.server_requests, w.requests)
        for c in comparisons.measured(cells)
        for w in c.windows or []
        if w.server_requests is not None and w.read_s is not None
    ]
    if not pairs:
        return []
    worst = max(abs(s - r) for s, r in pairs)
    reads = [
        x
        for c in comparisons.measured(cells)
        for w in c.windows or []
        for x in w.read_s or []
        if x is not None
    ]
    return [
        f"Server and client counted the same windows: in {len(pairs)} windows the server's "
        f"count (read from its workers' metric files at the window's edges, "
        f"{_span([r * 1000 for r in reads], '{:.0f}')} ms a read) differed from Locust's by "
        f"at most {worst} request(s)."
    ]


def imbalance(cells: list[Cell]) -> list[str]:
    multi = [
        c
        for c in comparisons.measured(cells)
        if c.workers > 1 and c.server_requests_by_worker and c.worker_imbalance is not None
    ]
    return [
        f"{comparisons.label(c)}: its workers served "
        f"{', '.join(str(n) for n in c.server_requests_by_worker)} requests (busiest first, "
        f"summed over runs); busiest / mean {c.worker_imbalance:.2f}."
        for c in multi
    ]


def checks(cells: list[Cell]) -> list[str]:
    return [*littles_law(cells), *warmup(cells), *counts(cells), *imbalance(cells)]
