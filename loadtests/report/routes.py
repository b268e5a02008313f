"""A project of the user's (``make bench APP=<dir>``): each route's measured λ* beside what
``analysis.prediction`` predicted from its service time and CPU per request, as its view is
written and if it were async. Empty for the lab's own views."""

from __future__ import annotations

import html

from loadtests.analysis.capacity import CapacityEntry
from loadtests.analysis.results import Results

from .tables import html_table, markdown_table

TITLE = "Your project's routes: measured beside predicted"
RULE = (
    "S: the route's median time over sequential requests on one connection, in the pre-flight "
    "under that kind (loopback, client side); CPU: the server's CPU per request near λ*, from "
    "the search. Predicted: the lowest of the threads' ceiling (workers x threads / S, under "
    "gunicorn gthread and granian WSGI) and the CPU's (cores / CPU per request), as the view is "
    "written and if it were async (docs/YOUR_APP.md says how far to trust it). A λ* with '>=' "
    "is a lower bound (the generator could not go higher)."
)


def _rps(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def rows(entries: list[CapacityEntry]) -> tuple[list[str], list[list[str]]]:
    header = [
        "route",
        "server",
        "workers x threads",
        "view",
        "S ms",
        "CPU ms/request",
        "λ* req/s [held, failed]",
        "predicted as written (binds)",
        "predicted if async (binds)",
        "λ* / predicted",
    ]
    body = []
    for e in entries:
        p = e.prediction
        held, failed = e.lambda_star_bracket
        lam = "-" if e.lambda_star_rps is None else f"{e.lambda_star_rps:,.1f}"
        lam = f">= {lam}" if e.lower_bound and e.lambda_star_rps is not None else lam
        lam += f" [{_rps(held)}, {_rps(failed)}]"
        if e.error or e.measurement_error:
            lam = f"not a result: {(e.error or e.measurement_error)[:80]}"
        body.append(
            [
                e.route,
                e.server,
                f"{e.workers} x {e.threads}",
                p.view if p else "-",
                f"{p.service_ms:.2f}" if p else "-",
                f"{p.cpu_ms:.2f}" if p else "-",
                lam,
                f"{_rps(p.as_written_rps)} ({p.as_written_binds})" if p else "-",
                f"{_rps(p.if_async_rps)} ({p.if_async_binds})" if p else "-",
                f"{e.lambda_star_rps / p.as_written_rps:.2f}"
                if p and e.lambda_star_rps and p.as_written_rps
                else "-",
            ]
        )
    return header, body


def _routes(record: Results) -> list[CapacityEntry]:
    return [e for e in record.capacity or [] if e.route is not None]


def section(record: Results, template: str) -> str:
    """The table in the format of the capacity layout's ``template`` (markdown or HTML)."""
    entries = _routes(record)
    if not entries:
        return ""
    if template.endswith(".md.j2"):
        return f"## {TITLE}\n\n{markdown_table(*rows(entries))}\n\n{RULE}\n\n"
    return f"<h2>{html.escape(TITLE)}</h2>{html_table(*rows(entries))}<p>{html.escape(RULE)}</p>"
