"""``report.html``: the summary's tables and findings with the plots inline, one offline file."""

from __future__ import annotations

import html

from loadtests.analysis import findings

from . import plots
from .panels import extension_sections
from .summary import DEFINITIONS, describe_run, problems
from .tables import (
    detail_rows,
    figure,
    html_table,
    inline_code,
    model_rows,
    overview_rows,
    upstream_rows,
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px;margin:.5rem 0 1rem;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td.t{text-align:left}
figure{margin:1rem 0}figcaption{color:#333;max-width:900px}svg{max-width:100%;height:auto}
.meta{color:#444;font-size:13px}code{background:#f4f4f4;padding:0 3px}
h3{font-size:1rem;margin:1.5rem 0 .3rem}.panels{display:flex;flex-wrap:wrap;gap:6px 14px}
details{margin:.5rem 0}dd{margin:0 0 .6rem 1rem}dd code{font-size:12px}
"""


def report_html(record: dict) -> str:
    meta, cells = record["meta"], record["cells"]
    done = findings.measured(cells)
    sections = [
        "<h1>Django async lab: sync and async views across servers and workers</h1>",
        '<div class="meta">'
        + "".join(f"<p>{inline_code(line)}</p>" for line in describe_run(meta))
        + "</div>",
    ]
    found = findings.all_findings(cells)
    if found:
        sections.append(
            "<h2>Findings</h2><ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in found) + "</ul>"
        )
    sections += [
        "<h2>Throughput against worker count</h2>",
        figure(
            plots.throughput(done),
            findings.throughput(cells) + findings.blocking(cells),
            "Requests per second for each scenario, server kind and worker count.",
        ),
        html_table(*overview_rows(cells)),
        "<h2>Latency percentiles</h2>",
        figure(
            plots.latency(done),
            findings.sync_vs_async(cells) + findings.fanout(cells),
            "Client-side latency percentiles.",
        ),
        "<h2>Client against server latency</h2>",
        figure(
            plots.client_vs_server(done),
            findings.latency_gap(cells),
            "Client-side against server-side latency: the gap is queueing outside Django.",
        ),
        "<h2>Efficiency against the ceilings</h2>",
        figure(
            plots.efficiency(done),
            findings.efficiency(cells) + findings.generator_check(cells),
            "Measured throughput as a share of the Little's-law ceiling.",
        ),
        html_table(*model_rows(cells)),
        "<h2>Every cell</h2>",
        html_table(*detail_rows(cells)),
    ]
    header, rows = upstream_rows(cells)
    if rows:
        sections += [
            "<h2>The upstream</h2>",
            "<p>" + " ".join(html.escape(s) for s in findings.upstream_check(cells)) + "</p>",
            html_table(header, rows),
        ]
    sections += extension_sections(record)
    issues = problems(cells, meta)
    if issues:
        sections.append(
            "<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in issues) + "</ul>"
        )
    sections.append(
        "<h2>Definitions</h2><dl>"
        + "".join(
            f"<dt><b>{html.escape(t)}</b></dt><dd>{inline_code(d)}</dd>" for t, d in DEFINITIONS
        )
        + "</dl>"
    )
    title = f"Django async lab, {html.escape(str(meta.get('run_id', '')))}"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head><body>{''.join(sections)}</body></html>\n"
    )
