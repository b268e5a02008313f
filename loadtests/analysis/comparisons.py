"""Cells found, grouped and compared: a ratio of throughputs with its 95% interval.

The interval comes from ``stats.ratio_of_means`` over each cell's fresh runs (its windows grouped by
``run``): Welch's t on the runs' mean rates. When the interval holds 1 the report says "not
significant": the data cannot separate the two, and no threshold is needed. A cell of an old
results.json (windows of one run) gets no interval.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from .records import Cell
from .stats import Ratio, ratio_of_means

MIN_RUNS = 2


def measured(cells: Iterable[Cell]) -> list[Cell]:
    return [c for c in cells if c.measured]


def label(cell: Cell) -> str:
    where = cell.server if not cell.workers else f"{cell.server} x{cell.workers}"
    pool = f" (pool {cell.db_pool_size})" if cell.db_pool_size else ""
    return f"{cell.scenario}{pool} on {where}"


def rate(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def find(cells: Iterable[Cell], scenario: str, server: str, workers: int) -> Cell | None:
    """The measured cell of this scenario, server kind and worker count, if any."""
    wanted = (scenario, server, workers)
    return next((c for c in measured(cells) if (c.scenario, c.server, c.workers) == wanted), None)


def by_series(cells: Iterable[Cell]) -> dict[tuple[str, str], list[Cell]]:
    """Measured cells per (scenario, server), sorted by worker count."""
    series: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    for cell in measured(cells):
        series[(cell.scenario, cell.server)].append(cell)
    return {k: sorted(v, key=lambda c: c.workers) for k, v in series.items()}


def run_means(cell: Cell) -> list[float]:
    """The mean rate of each fresh run's windows (one run for an old file): windows of one run
    share its start-up luck, so the run is the unit a comparison counts."""
    runs: dict[int, list[float]] = defaultdict(list)
    for w in cell.windows or []:
        runs[w.run or 1].append(w.rps)
    return [sum(rates) / len(rates) for rates in runs.values()]


def compare(a: Cell, b: Cell) -> Ratio | None:
    """None unless both cells have at least MIN_RUNS fresh runs: windows of a single run share
    its start-up luck, and an interval from them alone would claim more than they know."""
    means_a, means_b = run_means(a), run_means(b)
    if min(len(means_a), len(means_b)) < MIN_RUNS:
        return None
    return ratio_of_means(means_a, means_b)
