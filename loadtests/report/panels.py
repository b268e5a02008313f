"""The Prometheus panels that ``results.json`` holds: drawn as time series, summed up in a table."""

from __future__ import annotations

import html
from dataclasses import dataclass

from dashboards.query import rate_interval
from loadtests.analysis.results import Results

from . import agreement, plots
from .tables import Table, figure


def extension_sections(record: Results) -> list[str]:
    """The time series of results.json's ``panels``, if any.

    A panel with a ``group`` (the Prometheus's: one group per cell) is drawn beside the
    others of its group, over its own ``spans``; one without is drawn on its own, over every
    cell's windows.
    """
    panels = record.panels or []
    if not panels:
        return []
    spans = [(w.start, w.end) for c in record.cells for w in c.windows or []]
    out = ["<h2>Time series</h2>"]
    groups: dict[str, list[dict]] = {}
    for p in panels:
        if p.get("group"):
            groups.setdefault(p["group"], []).append(p)
        else:
            title, unit, series = p.get("title", ""), p.get("unit", ""), p.get("series", [])
            x_label = "seconds since the first sample"  # an extension's, over every window
            drawn = plots.timeseries(title, unit, series, spans, x_label=x_label, width=8.2)
            out.append(figure(drawn, [p.get("caption", "")], p.get("title", "")))
    if groups:
        out += _prometheus_intro(record.meta.prometheus or {}, panels)
    agrees, tables = agreement.sentences(record), agreement.table_rates(record)
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
                step=p.get("step"),
                reference=tables.get(p.get("cell"))
                if p.get("key") == agreement.THROUGHPUT_PANEL
                else None,
            )
            for p in members
        )
        out.append(
            f'<h3>{html.escape(group)}</h3><figure><div class="panels">{svgs}</div>'
            f"<figcaption>{_group_caption(members[0], agrees.get(group, []))}</figcaption>"
            "</figure>"
        )
    return out


def _prometheus_intro(info: dict, panels: list[dict]) -> list[str]:
    if not any(p.get("source") == "prometheus" for p in panels):
        return []
    version = f" {info['version']}" if info.get("version") else ""
    interval = info.get("scrape_interval_s", 1)
    window = next((p["rate_interval"] for p in panels if p.get("rate_interval")), "?")
    out = [
        f"<p>Prometheus{html.escape(version)} recorded each cell's app, upstream and Locust "
        f"every {interval:g} s (through the sweep's relay, which reads them at each scrape). "
        "Each figure below is one of the dashboards' panels "
        "(<code>dashboards/panels.py</code>, the PromQL of the Grafana dashboards) evaluated "
        "through Prometheus's query API over each run's warm-up and windows, a point at the "
        "run's end, with <code>$job</code> and <code>$locust_job</code> set to the cell's own "
        f"jobs and <code>$__rate_interval</code> {html.escape(str(window))} (Grafana's, "
        f"{rate_interval(1.0, interval)} at one point a second, reaches back into the warm-up "
        "of a run whose windows last a few seconds); "
        "between two runs of a cell, other cells ran, and its lines break. "
        "Grey: the measured windows; dotted across them on the throughput panel, the table's "
        "req/s for those windows (each caption says how far the panel's points lie from it, "
        "and why). A rate or a percentile needs two samples inside its "
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
        out.append(
            f"<details><summary>The panels and their PromQL</summary><dl>{items}</dl></details>"
        )
    return out


def _group_caption(panel: dict, agrees: list[str]) -> str:
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
    parts += [html.escape(text) for text in agrees]  # the panels beside the tables' figures
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


@dataclass(frozen=True)
class PrometheusSummary:
    intro: str
    peaks: Table
    agreement: list[str]  # each cell's panels beside its tables' figures


def prometheus_summary(record: Results) -> PrometheusSummary | None:
    """summary.md's short account of the time series that report.html draws."""
    panels = [p for p in record.panels or [] if p.get("group")]
    if not panels:
        return None
    info = record.meta.prometheus or {}
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
    return PrometheusSummary(
        intro=f"report.html draws {len(panels)} of the dashboards' panels for {len(groups)} "
        f"cell(s), as Prometheus answered their PromQL (a scrape every "
        f"{info.get('scrape_interval_s', 1):g} s).{cost} Their peaks inside the measured "
        "windows (a rate or percentile at a moment covers the few seconds before it), and "
        "below them each cell's client lines set beside the tables' figures:",
        peaks=(header, rows),
        agreement=[
            f"{group}: {text[0].lower()}{text[1:]}"
            for group, texts in agreement.sentences(record).items()
            for text in texts
        ],
    )
