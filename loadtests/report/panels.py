"""The Prometheus panels that ``results.json`` holds: drawn as time series, summed up in a table."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from dashboards.query import rate_interval
from loadtests.analysis.results import Results

from . import agreement, plots
from .jinja import ENV, Sentences
from .tables import Table

say = Sentences("agreement.j2")


def extension_sections(record: Results) -> str:
    """The time series of results.json's ``panels``, if any (``templates/timeseries.html.j2``).

    A panel with a ``group`` (the Prometheus's: one group per cell) is drawn beside the
    others of its group, over its own ``spans``; one without is drawn on its own, over every
    cell's windows.
    """
    panels = record.panels or []
    spans = [(w.start, w.end) for c in record.cells for w in c.windows or []]
    alone = [
        (
            Markup(
                plots.timeseries(
                    p.get("title", ""),
                    p.get("unit", ""),
                    p.get("series", []),
                    spans,
                    x_label="seconds since the first sample",
                    width=8.2,
                )
            ),
            p.get("caption", ""),
            p.get("title", ""),
        )
        for p in panels
        if not p.get("group")
    ]
    groups: dict[str, list[dict]] = {}
    for p in panels:
        if p.get("group"):
            groups.setdefault(p["group"], []).append(p)
    agrees, tables = agreement.sentences(record), agreement.table_rates(record)
    drawn = [
        (
            group,
            Markup("".join(_grouped_panel(p, spans, tables) for p in members)),
            members[0],
            {k: v for k, v in (members[0].get("variables") or {}).items() if k != "route"},
            agrees.get(group, []),
        )
        for group, members in groups.items()
    ]
    return ENV.get_template("timeseries.html.j2").render(
        alone=alone, groups=drawn, prometheus=_prometheus(record.meta.prometheus or {}, panels)
    )


def _grouped_panel(p: dict, spans, tables: dict) -> str:
    """One of a cell's panels, over its runs' spans, the table's req/s across the throughput's."""
    return plots.timeseries(
        p.get("title", ""),
        p.get("unit", ""),
        p.get("series", []),
        [tuple(span) for span in p.get("spans", spans)],
        origin=p.get("origin"),
        extent=p.get("range"),
        x_label="seconds from the first measured window",
        step=p.get("step"),
        reference=tables.get(p.get("cell")) if p.get("key") == agreement.THROUGHPUT_PANEL else None,
    )


def _prometheus(info: dict, panels: list[dict]) -> dict | None:
    """What the time series' introduction quotes of the Prometheus that answered, if one did."""
    grouped = any(p.get("group") for p in panels)
    if not (grouped and any(p.get("source") == "prometheus" for p in panels)):
        return None
    interval = info.get("scrape_interval_s", 1)
    return {
        "version": f" {info['version']}" if info.get("version") else "",
        "interval": interval,
        "window": next((p["rate_interval"] for p in panels if p.get("rate_interval")), "?"),
        "grafana_window": rate_interval(1.0, interval),
        "definitions": info.get("definitions") or {},
    }


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
    return PrometheusSummary(
        intro=say.prometheus_summary(len(panels), len(groups), info),
        peaks=(header, rows),
        agreement=[
            f"{group}: {text[0].lower()}{text[1:]}"
            for group, texts in agreement.sentences(record).items()
            for text in texts
        ],
    )
