"""One headroom notion per cell: its measured req/s as a share of its ceiling.

Two limits bound a closed-loop cell: its users (Little's law: users / service time, the most
that many users can send when every request takes only its service time) and the server's slots
(the requests it can hold at once / service time). The cell's ceiling is the lower of the two,
and the report names which one binds. ``results.json`` keeps both figures as they were
(``efficiency`` against the users' ceiling, ``model_efficiency`` against the lower one, whose
``model_rps`` is min(users, slots) / service time); runs without a model have only the users'.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtests.scenarios import SLOTS

from .records import Cell

USERS = "users"
BINDS = {USERS: "the users", SLOTS: "the server's slots"}  # what sets a ceiling, in words


@dataclass(frozen=True)
class Headroom:
    ceiling_rps: float
    binds: str  # USERS or SLOTS
    arithmetic: str  # how the ceiling is made, e.g. "2 worker(s) x 4 threads / 0.2 s"
    share: float | None  # req/s / ceiling (None: the cell has no rate)


def headroom(cell: Cell) -> Headroom | None:
    """The cell's ceiling, which limit sets it, and the share of it the cell reached."""
    if cell.model_rps:
        # Below the users' ceiling only when the slots are fewer than the users.
        binds = SLOTS if cell.model_rps < cell.littles_law_rps * (1 - 1e-6) else USERS
        share = cell.model_efficiency
        if share is None and cell.rps is not None:
            share = cell.rps / cell.model_rps
        return Headroom(cell.model_rps, binds, cell.model or "", share)
    if not cell.littles_law_rps or cell.rps is None:
        return None  # no model stored and nothing measured: which limit binds is not known
    service = cell.service_time_s
    arithmetic = f"{cell.users} users / {service:g} s" if service else f"{cell.users} users"
    share = cell.efficiency
    if share is None and cell.rps is not None:
        share = cell.rps / cell.littles_law_rps
    return Headroom(cell.littles_law_rps, USERS, arithmetic, share)
