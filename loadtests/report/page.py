"""``summary.md`` and ``report.html``: one context gathered from the run, laid out by two
templates; the HTML adds the plots, with the findings each illustrates as its caption."""

from __future__ import annotations

from markupsafe import Markup

from loadtests.analysis.comparisons import measured
from loadtests.analysis.results import Results

from . import advice, capacity, findings, headline, inflight, observability, plots, slowclients
from .jinja import ENV
from .panels import extension_sections
from .sections import sections


def _context(record: Results, markup: str) -> dict:
    """What both templates say; ``markup`` ("md" or "html") lays out the server-life parts."""
    part = ENV.get_template(f"parts.{markup}.j2").module.part
    server_life = (inflight.part(record), slowclients.part(record))
    return {
        "s": sections(record),
        "server_life": Markup("".join(part(p) for p in server_life if p)),
        "advice": advice.answers(record),
        "advice_title": advice.TITLE,
        "headline": headline.headline(record.capacity),
        "headline_title": headline.HEADLINE_TITLE,
        "headline_rule": headline.headline_rule(),
        "observability": observability.cost(record),
        "observability_title": observability.TITLE,
        "locust_title": observability.LOCUST_TITLE,
    }


def summary_markdown(record: Results) -> str:
    context = _context(record, "md")
    return ENV.get_template("summary.md.j2").render(capacity=capacity.markdown(record), **context)


def report_html(record: Results) -> str:
    cells = record.cells
    done = measured(cells)
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
        figures={key: (svg and Markup(svg), said) for key, (svg, said) in figures.items()},
        time_series=Markup(extension_sections(record)),
        capacity=Markup(capacity.html_section(record)),
        **_context(record, "html"),
    )
