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
        ceiling, arithmetic, share = cell.model_rps, cell.model or "", cell.model_efficiency
    elif cell.littles_law_rps and cell.rps is not None:
        service = cell.service_time_s
        arithmetic = f"{cell.users} users / {service:g} s" if service else f"{cell.users} users"
        binds, ceiling, share = USERS, cell.littles_law_rps, cell.efficiency
    else:
        return None  # no model stored and nothing measured: which limit binds is not known
    if share is None and cell.rps is not None:
        share = cell.rps / ceiling
    return Headroom(ceiling, binds, arithmetic, share)
