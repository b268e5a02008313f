"""``summary.md``: the run in words, the findings and the tables, readable on their own."""

from __future__ import annotations

from loadtests.analysis.results import Results

from . import advice, capacity, headline, inflight, observability, slowclients
from .jinja import ENV
from .sections import sections

_part = ENV.get_template("parts.md.j2").module.part


def summary_markdown(record: Results) -> str:
    return ENV.get_template("summary.md.j2").render(
        s=sections(record),
        capacity=capacity.markdown(record),
        server_life="".join(
            _part(p) for p in (inflight.part(record), slowclients.part(record)) if p
        ),
        advice=advice.answers(record),
        advice_title=advice.TITLE,
        **headline.headline_context(record),
        **observability.context(record),
    )
