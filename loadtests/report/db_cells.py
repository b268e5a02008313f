"""The database section's closed-loop part: the database paths' cells (``--scenarios sync-db``,
``--profile full``), per path, server, workers and pool size, and the paths against each other
where they share the rest (Welch's interval over fresh runs, ``analysis.comparisons``)."""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

from loadtests.analysis.comparisons import measured
from loadtests.analysis.records import Cell
from loadtests.analysis.results import Results
from loadtests.scenarios import DB_SCENARIOS

from .findings import versus
from .tables import number

TITLE = "Closed loop (the database paths' cells)"
PATH_ORDER = tuple(DB_SCENARIOS)


def cells_of(record: Results) -> list[Cell]:
    mine = [c for c in measured(record.cells) if c.scenario in DB_SCENARIOS]
    return sorted(
        mine, key=lambda c: (c.server, c.workers, c.db_pool_size or 0, PATH_ORDER.index(c.scenario))
    )


def rows(cells: list[Cell]) -> tuple[list[str], list[list[str]]]:
    header = [
        "path",
        "server",
        "workers",
        "pool",
        "users",
        "req/s",
        "95% CI",
        "model ceiling",
        "of model",
        "p50 / p99 ms",
        "server CPU %",
        "failures",
    ]
    body = []
    for c in cells:
        ci = f"{number(c.rps_ci95[0], 1)}-{number(c.rps_ci95[1], 1)}" if c.rps_ci95 else "-"
        lat = c.latency_ms
        share = f"{c.model_efficiency:.0%}" if c.model_efficiency is not None else "-"
        cpu = c.server_process.cpu_percent if c.server_process else None
        body.append(
            [
                c.scenario,
                c.server,
                str(c.workers),
                number(c.db_pool_size),
                str(c.users),
                number(c.rps, 1),
                ci,
                number(c.model_rps, 1),
                share,
                f"{number(lat.p50 if lat else None)} / {number(lat.p99 if lat else None)}",
                number(cpu),
                str(c.failures),
            ]
        )
    return header, body


def sentences(cells: list[Cell]) -> list[str]:
    groups: dict[tuple, list[Cell]] = defaultdict(list)
    for c in cells:
        groups[(c.server, c.workers, c.db_pool_size)].append(c)
    said = []
    for group in groups.values():
        said += [versus(b, a) + "." for a, b in combinations(group, 2)]
    return said
