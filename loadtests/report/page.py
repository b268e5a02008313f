"""``report.html``: the summary's tables and findings with the plots inline, one offline file."""

from __future__ import annotations

from markupsafe import Markup

from loadtests.analysis.comparisons import measured
from loadtests.analysis.results import Results

from . import advice, capacity, findings, headline, inflight, observability, plots, slowclients
from .jinja import ENV
from .panels import extension_sections
from .sections import sections

_part = ENV.get_template("parts.html.j2").module.part


def report_html(record: Results) -> str:
    cells = record.cells
    done = measured(cells)
    # Each plot, with the findings it illustrates as its caption (the template has a fallback).
    figures = {
        "throughput": (
            plots.throughput(done),
            findings.throughput(cells) + findings.blocking(cells),
        ),
        "latency": (plots.latency(done), findings.sync_vs_async(cells) + findings.fanout(cells)),
        "client_vs_server": (plots.client_vs_server(done), findings.latency_gap(cells)),
        "efficiency": (
            plots.efficiency(done),
            findings.efficiency(cells) + findings.generator_check(cells),
        ),
    }
    return ENV.get_template("report.html.j2").render(
        s=sections(record),
        figures={key: (svg and Markup(svg), said) for key, (svg, said) in figures.items()},
        time_series=Markup("".join(extension_sections(record))),
        capacity=Markup(capacity.html_section(record)),
        server_life=Markup(
            "".join(_part(p) for p in (inflight.part(record), slowclients.part(record)) if p)
        ),
        advice=advice.answers(record),
        advice_title=advice.TITLE,
        **headline.headline_context(record),
        **observability.context(record),
    )
