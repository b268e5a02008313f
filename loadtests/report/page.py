"""``summary.md`` and ``report.html``: what the run says, gathered once into one context from
``results.json``'s records alone, and laid out by two templates (``templates/``), which decide
only where each part goes and in which markup; the HTML adds the plots, with the findings each
illustrates as its caption."""

from __future__ import annotations

from markupsafe import Markup

from loadtests.analysis import littles, stats, steady
from loadtests.analysis.comparisons import measured
from loadtests.analysis.records import Cell, RunMeta
from loadtests.analysis.results import Results
from loadtests.analysis.thresholds import (
    GENERATOR_SATURATED_PERCENT,
    SERVER_CPU_BOUND_PERCENT,
    UPSTREAM_BUSY_PERCENT,
)
from loadtests.model.experiment import UPSTREAM_POOL_SIZE

from . import advice, capacity, findings, inflight, observability, plots, slowclients
from .jinja import ENV, Sentences, one_line
from .panels import extension_sections, prometheus_summary
from .tables import ceiling_rows, detail_rows, interval_rows, overview_rows, upstream_rows

CEILING_TERM = "Ceiling, and 'of ceiling'"  # the one headroom notion the tables use
GAP_NOTE = "Server above client:"  # opens each note, so a reader (and a test) can find them
say = Sentences("sections.j2")


def _definitions() -> list[tuple[str, str]]:
    module = Sentences("definitions.j2").module(
        ceiling_term=CEILING_TERM,
        upstream_pool_size=UPSTREAM_POOL_SIZE,
        steady_rule=steady.rule_text(),
        resamples=stats.RESAMPLES,
        z=littles.Z,
        littles_flag=littles.FLAG,
        generator_saturated=GENERATOR_SATURATED_PERCENT,
        server_cpu_bound=SERVER_CPU_BOUND_PERCENT,
        upstream_busy=UPSTREAM_BUSY_PERCENT,
        steady_cap_s=steady.STEADY_CAP_S,
    )
    return [(term, one_line(text)) for term, text in module.definitions]


DEFINITIONS = _definitions()


def describe_run(meta: RunMeta) -> list[str]:
    return [
        say.run(meta),
        say.machine(meta.machine),
        say.versions(meta.versions, meta.git),
        say.load(meta, meta.parameters),
        say.pinning(meta),
    ]


def problems(cells: list[Cell], meta: RunMeta) -> list[str]:
    lines = [say.error(c) for c in cells if c.error]
    if meta.skipped_cells:
        lines.append(say.skipped(meta.skipped_cells))
    return lines + meta.notes


def percentile_gaps(cells: list[Cell]) -> list[str]:
    """Where a server percentile exceeds the client's (which it cannot truly do), why."""
    said = []
    for c in measured(cells):
        client, server = c.latency_ms, c.server_latency_ms
        if client is None or server is None:
            continue
        for key in ("p50", "p95", "p99"):
            mine, theirs = getattr(server, key), getattr(client, key)
            if mine is not None and theirs is not None and mine > theirs:
                bucket = getattr(server, f"{key}_bucket")
                said.append(say.percentile_gap(GAP_NOTE, c, key, mine, theirs, bucket))
    return said


def _context(record: Results, markup: str) -> dict:
    """What both templates say; ``markup`` ("md" or "html") lays out the server-life parts."""
    part = ENV.get_template(f"parts.{markup}.j2").module.part
    meta, cells = record.meta, record.cells
    upstream = upstream_rows(cells)
    intervals = interval_rows(cells)
    s = {
        "title": f"Django async lab, {meta.run_id}",
        "run": describe_run(meta),
        "findings": findings.all_findings(cells),
        "overview": overview_rows(cells),
        "detail": detail_rows(cells),
        "percentile_gaps": percentile_gaps(cells),
        "intervals": intervals if intervals[1] else None,
        "ceilings": ceiling_rows(cells),
        "upstream": upstream if upstream[1] else None,
        "upstream_sentences": findings.upstream_check(cells),
        "prometheus": prometheus_summary(record),
        "notes": problems(cells, meta),
        "definitions": DEFINITIONS,
    }
    server_life = (inflight.part(record), slowclients.part(record))
    return {
        "s": s,
        "server_life": Markup("".join(part(p) for p in server_life if p)),
        "advice": advice.answers(record),
        "advice_title": advice.TITLE,
        "headline": capacity.headline(record.capacity),
        "headline_title": capacity.HEADLINE_TITLE,
        "headline_rule": capacity.headline_rule(),
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
