"""``summary.md`` and ``report.html`` from a run's ``results.json``, and from nothing else.

    python -m loadtests.report reports/latest     # or: python -m loadtests.sweep --render-only DIR

The Markdown holds the tables and the findings, readable on their own; the HTML adds the
plots as inline SVG, so the one file opens offline. Extensions' ``panels`` in ``results.json``
(see ``hooks``) become extra sections of the HTML.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path

from . import findings, plots, results
from .scenarios import SCENARIOS, WSGI_KINDS

DEFINITIONS = [
    (
        "Closed loop",
        "Every Locust user sends its next request as soon as the last one is answered (no "
        "think time), so the users are the requests in flight. Each request opens a new "
        "connection unless the run says keep-alive.",
    ),
    (
        "Little's-law ceiling",
        "users / service time: the most a closed loop of that many users can reach when every "
        "request takes only its service time. The service time is `delay` for the sleep views "
        "and for the concurrent fan-outs (their calls overlap, so a request waits one upstream "
        "`delay`), and `fanout x delay` for the sequential baseline. efficiency = req/s / "
        "this ceiling.",
    ),
    (
        "Model ceiling",
        "min(users, slots) / service time, where slots are the requests the server can hold "
        "at once: workers x threads for gunicorn gthread (any view); unlimited for an ASGI "
        "worker's async views and for its sync views (Django runs each in a thread of its own); "
        "one per worker for the blocking async view, which stalls the event loop; and the "
        "per-worker pool of 100 upstream connections / fanout for the fan-outs.",
    ),
    (
        "Client and server latency",
        "Client: Locust's response times in the measured windows. Server: percentiles "
        "interpolated in the app's own `http_server_request_duration_seconds` histogram, from "
        "the difference of two /metrics scrapes taken at the windows' edges (boundaries set just "
        "above the scenario's service time). The gap is time outside Django: the accept queue, a "
        "busy gunicorn thread, a blocked event loop, the network stack, Locust itself.",
    ),
    (
        "Windows and spread",
        "After spawning and a warm-up (at least one expected latency, so queues are full), the "
        "cell's repeats are back-to-back windows of one run (or fresh runs, if the profile says "
        "so). req/s is their mean and min-max their spread; percentiles pool every window.",
    ),
    (
        "Flags",
        "failures: some requests failed their checks; generator-saturated: a Locust process "
        "passed 90% of a core; server-cpu-bound: the server used over 85% of its cores; "
        "upstream-busy: the upstream passed 50% of its one core; workers-not-ready: not every "
        "worker answered before the load began; error: the cell could not be measured.",
    ),
]


# --- numbers as text --------------------------------------------------------------------------


def _n(value, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value < 10 and digits == 0:
        return f"{value:.1f}"
    return f"{value:,.{digits}f}"


def _pct(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def _triple(latency: dict | None) -> str:
    if not latency:
        return "-"
    return " / ".join(_n(latency.get(k)) for k in ("p50", "p95", "p99"))


def _rate(cell: dict) -> str:
    if cell.get("rps") is None:
        return "error"
    low, high = cell.get("rps_min"), cell.get("rps_max")
    spread = (
        f" ({_n(low)}-{_n(high)})" if low is not None and high is not None and low != high else ""
    )
    return f"{_n(cell['rps'])}{spread}"


def _where(cell: dict) -> str:
    server = cell["server"]
    if server in WSGI_KINDS and cell.get("threads"):
        return f"{server} ({cell['threads']} threads)"
    return server


# --- tables -----------------------------------------------------------------------------------


def _scenario_order(cells: list[dict]) -> list[str]:
    present = {c["scenario"] for c in cells}
    return [s for s in SCENARIOS if s in present] + sorted(present - set(SCENARIOS))


def overview_rows(cells: list[dict]) -> tuple[list[str], list[list[str]]]:
    """req/s (and efficiency) per scenario and server kind, one column per worker count."""
    counts = sorted({c["workers"] for c in cells})
    header = [
        "scenario",
        "server",
        *[f"{n} worker{'s' if n != 1 else ''}" if n else "req/s" for n in counts],
    ]
    rows = []
    for scenario in _scenario_order(cells):
        servers = dict.fromkeys(c["server"] for c in cells if c["scenario"] == scenario)
        for server in servers:
            row = [scenario, server]
            for n in counts:
                cell = next(
                    (
                        c
                        for c in cells
                        if (c["scenario"], c["server"], c["workers"]) == (scenario, server, n)
                    ),
                    None,
                )
                if cell is None:
                    row.append("")
                elif cell.get("rps") is None:
                    row.append("error")
                else:
                    row.append(f"{_n(cell['rps'])} ({_pct(cell.get('efficiency'))})")
            rows.append(row)
    return header, rows


def detail_rows(cells: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = [
        "scenario",
        "server",
        "workers",
        "users",
        "req/s (min-max)",
        "Little ceiling",
        "eff.",
        "model ceiling",
        "of model",
        "client p50/p95/p99 ms",
        "server p50/p95/p99 ms",
        "requests",
        "failures",
        "server CPU %",
        "RSS MB",
        "threads",
        "Locust CPU %",
        "flags",
    ]
    rows = []
    for cell in sorted(
        cells,
        key=lambda c: (_scenario_order(cells).index(c["scenario"]), c["server"], c["workers"]),
    ):
        server = cell.get("server_process") or {}
        rows.append(
            [
                cell["scenario"],
                _where(cell),
                str(cell["workers"]),
                str(cell["users"]),
                _rate(cell),
                _n(cell.get("littles_law_rps")),
                _pct(cell.get("efficiency")),
                _n(cell.get("model_rps")),
                _pct(cell.get("model_efficiency")),
                _triple(cell.get("latency_ms")),
                _triple(cell.get("server_latency_ms")),
                _n(cell.get("requests")),
                _n(cell.get("failures")),
                _n(server.get("cpu_percent")),
                _n(server.get("rss_mb")),
                _n(server.get("threads")),
                _n((cell.get("generator") or {}).get("cpu_percent")),
                ", ".join(cell.get("flags", [])) or "",
            ]
        )
    return header, rows


def upstream_rows(cells: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = [
        "scenario",
        "server",
        "workers",
        "upstream CPU %",
        "calls",
        "calls/s",
        "call p50/p95/p99 ms",
        "call statuses",
    ]
    rows = []
    for cell in cells:
        up = cell.get("upstream")
        if not up:
            continue
        seconds = sum(w.get("duration_s", 0) for w in cell.get("windows", [])) or None
        rows.append(
            [
                cell["scenario"],
                cell["server"],
                str(cell["workers"]),
                _n(up.get("cpu_percent")),
                _n(up.get("calls")),
                _n(up["calls"] / seconds) if up.get("calls") is not None and seconds else "-",
                _triple(up.get("call_latency_ms")),
                ", ".join(f"{k}: {v}" for k, v in (up.get("call_statuses") or {}).items()),
            ]
        )
    return header, rows


def model_rows(cells: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["scenario", "server", "workers", "model ceiling", "why", "measured", "of model"]
    rows = [
        [
            c["scenario"],
            c["server"],
            str(c["workers"]),
            _n(c.get("model_rps")),
            c.get("model", ""),
            _n(c.get("rps")),
            _pct(c.get("model_efficiency")),
        ]
        for c in cells
        if c.get("model")
    ]
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def clean(text: str) -> str:
        return str(text).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(clean(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)

    def cell(value) -> str:
        text = str(value)
        numeric = not text or text[0].isdigit() or text[0] in "-("
        return (
            f"<td>{html.escape(text)}</td>"
            if numeric
            else f'<td class="t">{html.escape(text)}</td>'
        )

    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# --- the run, in words ------------------------------------------------------------------------


def describe_run(meta: dict) -> list[str]:
    machine, versions = meta.get("machine", {}), meta.get("versions", {})
    params = meta.get("parameters", {})
    git = meta.get("git", {})
    commit = (git.get("commit") or "unknown")[:10] + (
        " (uncommitted changes)" if git.get("dirty") else ""
    )
    lines = [
        f"Run `{meta.get('run_id', '?')}`, profile `{meta.get('profile', '?')}`, status "
        f"**{meta.get('status', '?')}**: {meta.get('started_at', '?')} to "
        f"{meta.get('ended_at') or '?'} ({_n(meta.get('duration_s'))} s). "
        f"Command: `{meta.get('command', '')}`.",
        f"Machine: {machine.get('cpu_model', '?')}, {machine.get('cpu_count', '?')} CPU(s) "
        f"({machine.get('cpus_available', '?')} available), {machine.get('memory_gb', '?')} GB, "
        f"{machine.get('platform', '?')}; Python {machine.get('python', '?')}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + f"; git {commit}.",
        f"Load: {params.get('users', '?')} closed-loop Locust users per cell, delay "
        f"{params.get('delay', '?')} s, fan-out {params.get('fanout', '?')}, gunicorn gthread "
        f"threads {params.get('threads', '?')}; warm-up at least {params.get('warmup', '?')} s, "
        f"then {params.get('repeats', '?')} x {params.get('window', '?')} s windows "
        f"({'a fresh server for each' if params.get('restart_per_repeat') else 'back to back'}); "
        f"connections: {meta.get('connections', '?')}; generator: "
        f"{(meta.get('generator') or {}).get('mode', '?')}.",
        f"Pinning: {meta.get('pinning', '?')}. Target: {meta.get('target', '?')}.",
    ]
    return lines


def problems(cells: list[dict], meta: dict) -> list[str]:
    lines = [
        f"{c['server']} x{c['workers']} {c['scenario']}: {c['error']}"
        for c in cells
        if c.get("error")
    ]
    if meta.get("skipped_cells"):
        lines.append("Not measured: " + ", ".join(meta["skipped_cells"]))
    lines += meta.get("notes", [])
    return lines


# --- rendering --------------------------------------------------------------------------------


def summary_markdown(record: dict) -> str:
    meta, cells = record["meta"], record["cells"]
    parts = ["# Django async lab: sweep summary", "", *describe_run(meta), ""]
    found = findings.all_findings(cells)
    if found:
        parts += ["## Findings", "", *[f"- {s}" for s in found], ""]
    parts += [
        "## Throughput, req/s (efficiency against the Little's-law ceiling)",
        "",
        markdown_table(*overview_rows(cells)),
        "",
        "## Every cell",
        "",
        markdown_table(*detail_rows(cells)),
        "",
    ]
    if any(c.get("model") for c in cells):
        parts += [
            "## Against the server's concurrency model",
            "",
            markdown_table(*model_rows(cells)),
            "",
        ]
    header, rows = upstream_rows(cells)
    if rows:
        parts += [
            "## The upstream (fan-out scenarios)",
            "",
            *findings.upstream_check(cells),
            "",
            markdown_table(header, rows),
            "",
        ]
    parts += prometheus_summary(record)
    issues = problems(cells, meta)
    if issues:
        parts += ["## Notes", "", *[f"- {line}" for line in issues], ""]
    parts += ["## Definitions", "", *[f"- **{term}**: {text}" for term, text in DEFINITIONS], ""]
    return "\n".join(parts)


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


def _figure(svg: str | None, sentences: list[str], fallback: str) -> str:
    caption = " ".join(html.escape(s) for s in sentences) or html.escape(fallback)
    if svg is None:
        return f"<p>{caption}</p>"
    return f"<figure>{svg}<figcaption>{caption}</figcaption></figure>"


def _inline_code(text: str) -> str:
    escaped = html.escape(text)
    parts = escaped.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def report_html(record: dict) -> str:
    meta, cells = record["meta"], record["cells"]
    done = findings.measured(cells)
    sections = [
        "<h1>Django async lab: sync and async views across servers and workers</h1>",
        '<div class="meta">'
        + "".join(f"<p>{_inline_code(line)}</p>" for line in describe_run(meta))
        + "</div>",
    ]
    found = findings.all_findings(cells)
    if found:
        sections.append(
            "<h2>Findings</h2><ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in found) + "</ul>"
        )
    sections += [
        "<h2>Throughput against worker count</h2>",
        _figure(
            plots.throughput(done),
            findings.throughput(cells) + findings.blocking(cells),
            "Requests per second for each scenario, server kind and worker count.",
        ),
        html_table(*overview_rows(cells)),
        "<h2>Latency percentiles</h2>",
        _figure(
            plots.latency(done),
            findings.sync_vs_async(cells) + findings.fanout(cells),
            "Client-side latency percentiles.",
        ),
        "<h2>Client against server latency</h2>",
        _figure(
            plots.client_vs_server(done),
            findings.latency_gap(cells),
            "Client-side against server-side latency: the gap is queueing outside Django.",
        ),
        "<h2>Efficiency against the ceilings</h2>",
        _figure(
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
    sections += _extension_sections(record)
    issues = problems(cells, meta)
    if issues:
        sections.append(
            "<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in issues) + "</ul>"
        )
    sections.append(
        "<h2>Definitions</h2><dl>"
        + "".join(
            f"<dt><b>{html.escape(t)}</b></dt><dd>{_inline_code(d)}</dd>" for t, d in DEFINITIONS
        )
        + "</dl>"
    )
    title = f"Django async lab, {html.escape(str(meta.get('run_id', '')))}"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head><body>{''.join(sections)}</body></html>\n"
    )


def _extension_sections(record: dict) -> list[str]:
    """Extra sections from extensions: ``panels`` (time series) in results.json, if any.

    A panel with a ``group`` (the Prometheus hook's: one group per cell) is drawn beside the
    others of its group, over its own ``spans``; one without is drawn on its own, over every
    cell's windows.
    """
    panels = record.get("panels") or []
    if not panels:
        return []
    spans = [
        (w["start"], w["end"])
        for c in record["cells"]
        for w in c.get("windows", [])
        if "start" in w
    ]
    out = ["<h2>Time series</h2>"]
    for p in panels:
        if not p.get("group"):
            svg = plots.panel(p.get("title", ""), p.get("unit", ""), p.get("series", []), spans)
            out.append(_figure(svg, [p.get("caption", "")], p.get("title", "")))
    groups: dict[str, list[dict]] = {}
    for p in panels:
        if p.get("group"):
            groups.setdefault(p["group"], []).append(p)
    if groups:
        out += _prometheus_intro(record["meta"].get("prometheus") or {}, panels)
    for group, members in groups.items():
        svgs = "".join(
            plots.timeseries(
                p.get("title", ""),
                p.get("unit", ""),
                p.get("series", []),
                [tuple(span) for span in p.get("spans", spans)],
                origin=p.get("origin"),
                extent=p.get("range"),
                x_label="seconds from the first measured window",
            )
            for p in members
        )
        out.append(
            f'<h3>{html.escape(group)}</h3><figure><div class="panels">{svgs}</div>'
            f"<figcaption>{_group_caption(members[0])}</figcaption></figure>"
        )
    return out


def _prometheus_intro(info: dict, panels: list[dict]) -> list[str]:
    if not any(p.get("source") == "prometheus" for p in panels):
        return []
    version = f" {info['version']}" if info.get("version") else ""
    interval = info.get("scrape_interval_s", 1)
    out = [
        f"<p>Prometheus{html.escape(version)} recorded each cell's app, upstream and Locust "
        f"every {interval:g} s (through the sweep's relay, at the moments they answered). "
        "Each figure below is one of the dashboards' panels "
        "(<code>dashboards/panels.py</code>, the PromQL of the Grafana dashboards) evaluated "
        "through Prometheus's query API over the cell's warm-up and windows, with "
        "<code>$job</code> and <code>$locust_job</code> set to the cell's own jobs. "
        "Grey: the measured windows. A rate or a percentile needs two samples inside its "
        "window: a server that keeps <code>/metrics</code> waiting behind a queue has fewer, "
        "and gaps.</p>"
    ]
    definitions = info.get("definitions") or {}
    if definitions:
        items = "".join(
            f"<dt><b>{html.escape(d['title'])}</b> ({html.escape(key)})</dt>"
            f"<dd>{html.escape(d['description'])}"
            + "".join(
                f"<br><code>{html.escape(q['expr'])}</code>"
                + (f" (legend <code>{html.escape(q['legend'])}</code>)" if q["legend"] else "")
                for q in d["queries"]
            )
            + "</dd>"
            for key, d in definitions.items()
        )
        out.append(f"<details><summary>The panels and their PromQL</summary><dl>{items}</dl>"
                   "</details>")  # fmt: skip
    return out


def _group_caption(panel: dict) -> str:
    variables = panel.get("variables") or {}
    jobs = ", ".join(
        f"<code>{html.escape(k)}={html.escape(v)}</code>"
        for k, v in variables.items()
        if k != "route"
    )
    parts = []
    if jobs:
        parts.append(f"Prometheus jobs {jobs}.")
    if panel.get("step"):
        parts.append(f"One point every {panel['step']:g} s")
        if panel.get("rate_interval"):
            parts[-1] += f"; rates and percentiles over {html.escape(panel['rate_interval'])}"
        parts[-1] += "."
    parts.append("x: seconds from the first measured window (before 0: the warm-up).")
    return " ".join(parts)


def peak_in_windows(panel: dict) -> float | None:
    """The highest value of any of the panel's series inside its measured windows."""
    spans = panel.get("spans") or []
    values = [
        v
        for s in panel.get("series", [])
        for t, v in s.get("points", [])
        if v is not None and any(a <= t <= b for a, b in spans)
    ]
    return max(values) if values else None


def _peak_text(panel: dict) -> str:
    value = peak_in_windows(panel)
    if value is None:
        return "-"
    label, factor = plots.unit_label(panel.get("unit", ""))
    value *= factor
    number = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{number} {label}".strip()


def prometheus_summary(record: dict) -> list[str]:
    """summary.md's short account of the time series that report.html draws."""
    panels = [p for p in record.get("panels") or [] if p.get("group")]
    if not panels:
        return []
    info = record["meta"].get("prometheus") or {}
    groups: dict[str, dict[str, dict]] = {}
    for p in panels:
        groups.setdefault(p["group"], {})[p.get("key") or p["title"]] = p
    columns = {p.get("key") or p["title"]: p["title"] for p in panels}
    header = ["cell", *columns.values()]
    rows = [
        [group, *(_peak_text(by_key[k]) if k in by_key else "-" for k in columns)]
        for group, by_key in groups.items()
    ]
    cost = ""
    if info.get("cpu_s") is not None:
        cost = f" Prometheus itself used {info['cpu_s']:g} s of CPU over the sweep."
    return [
        "## Time series (Prometheus)",
        "",
        f"report.html draws {len(panels)} of the dashboards' panels for {len(groups)} cell(s), "
        f"as Prometheus answered their PromQL (a scrape every "
        f"{info.get('scrape_interval_s', 1):g} s).{cost} Their peaks inside the measured "
        "windows (a rate or percentile at a moment covers the few seconds before it):",
        "",
        markdown_table(header, rows),
        "",
    ]


def render(run_dir: Path | str) -> list[Path]:
    """Write summary.md and report.html beside results.json; return their paths."""
    run_dir = Path(run_dir)
    record = results.load(run_dir / "results.json")
    summary = run_dir / "summary.md"
    page = run_dir / "report.html"
    summary.write_text(summary_markdown(record))
    page.write_text(report_html(record))
    return [summary, page]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m loadtests.report RUN_DIR")
    print("\n".join(str(p) for p in render(sys.argv[1])))
