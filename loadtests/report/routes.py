"""A project of the user's (``make bench APP=<dir>``): each route's measured λ* beside what
``analysis.prediction`` predicted from its service time and CPU per request, as its view is
written and if it were async. Nothing for the lab's own views."""

from __future__ import annotations

from loadtests.analysis.capacity import CapacityEntry
from loadtests.analysis.results import Results

from .jinja import Sentences
from .tables import Part, Table, table

TITLE = "Your project's routes: measured beside predicted"
say = Sentences("capacity.j2")


def _rps(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _lambda(e: CapacityEntry) -> str:
    """λ* (a lower bound said as one) with its bracket, or why it is not a result."""
    if e.error or e.measurement_error:
        return f"not a result: {(e.error or e.measurement_error)[:80]}"
    lam = "-" if e.lambda_star_rps is None else f"{e.lambda_star_rps:,.1f}"
    lam = f">= {lam}" if e.lower_bound and e.lambda_star_rps is not None else lam
    held, failed = e.lambda_star_bracket
    return f"{lam} [{_rps(held)}, {_rps(failed)}]"


def _predicted(read):
    """A column that an entry without a prediction leaves at '-'."""
    return lambda e: read(e.prediction) if e.prediction else "-"


def _measured_share(e: CapacityEntry) -> str:
    p = e.prediction
    if p and e.lambda_star_rps and p.as_written_rps:
        return f"{e.lambda_star_rps / p.as_written_rps:.2f}"
    return "-"


COLUMNS = (
    ("route", lambda e: e.route),
    ("server", lambda e: e.server),
    ("workers x threads", lambda e: f"{e.workers} x {e.threads}"),
    ("view", _predicted(lambda p: p.view)),
    ("S ms", _predicted(lambda p: f"{p.service_ms:.2f}")),
    ("CPU ms/request", _predicted(lambda p: f"{p.cpu_ms:.2f}")),
    ("λ* req/s [held, failed]", _lambda),
    (
        "predicted as written (binds)",
        _predicted(lambda p: f"{_rps(p.as_written_rps)} ({p.as_written_binds})"),
    ),
    (
        "predicted if async (binds)",
        _predicted(lambda p: f"{_rps(p.if_async_rps)} ({p.if_async_binds})"),
    ),
    ("λ* / predicted", _measured_share),
)


def rows(entries: list[CapacityEntry]) -> Table:
    return table(COLUMNS, entries)


def part(record: Results) -> Part | None:
    """The routes' table, beside the capacity map; None for the lab's own views."""
    entries = [e for e in record.capacity or [] if e.route is not None]
    return Part(TITLE, [], rows(entries), say.routes_rule()) if entries else None
