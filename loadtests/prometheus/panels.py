"""A cell's Prometheus panels: the dashboards' PromQL, evaluated over each run, as report panels."""

from __future__ import annotations

import math

from dashboards import panels as dashboard_panels
from dashboards.prometheus_server import duration
from loadtests.analysis.records import Cell

CONTIGUOUS_S = 0.5  # windows closer than this are one run's
# A rate needs two samples inside its range: two scrape intervals hold two, and reach back
# no further than that before a point (Grafana's $__rate_interval, four, reaches twice as far:
# into the warm-up, when a run's windows last a few seconds).
RATE_SAMPLES = 2
TIME_DECIMALS = 3  # results.json keeps a point's time to the millisecond


def cell_key(cell: Cell) -> str:
    """The key the sweep names a cell by (``CellPlan.key``)."""
    return f"{cell.server}/{cell.workers}/{cell.scenario}"


def runs(spans) -> list[tuple[float, float]]:
    """The measured windows merged into each run's stretch of back-to-back windows."""
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] <= CONTIGUOUS_S:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def rate_window(step: float, scrape_interval: float) -> str:
    """The report's ``$__rate_interval``: a step, and at least two scrape intervals."""
    return duration(max(step, RATE_SAMPLES * scrape_interval))


def run_grid(
    run: tuple[float, float], since: float, lead: float, step: float
) -> tuple[float, float]:
    """A run's query range: from its warm-up (at most ``lead`` before its first window, not
    before its servers were up) to its last window's end, on a grid with a point at that end,
    so that the last point's rate covers the run's last seconds and nothing after them."""
    first, last = run
    # Down to a stored time: a point at the end that rounds up would lie after the run.
    last = math.floor(last * 10**TIME_DECIMALS) / 10**TIME_DECIMALS
    earliest = max(since, first - lead)
    points = max(1, int((last - earliest) // step))
    return last - points * step, last


def _point(t: float, v: float | None) -> list:
    """A point as stored: time to the millisecond, value to six significant digits (more
    than any of these measurements holds)."""
    stored_t = int(t) if float(t).is_integer() else round(t, TIME_DECIMALS)
    return [stored_t, None if v is None else float(f"{v:.6g}")]


def cell_title(cell: Cell) -> str:
    workers = cell.workers
    return f"{cell.scenario} on {cell.server}, {workers} worker{'s' if workers != 1 else ''}"


def seam_panels(evaluations: list[dict], cell: Cell, spans: list[list[float]]) -> list[dict]:
    """Each run's ``evaluate_panels`` answer as results.json's ``panels``, one group per cell.

    A series's points run after run (the seconds between runs, other cells' runs, have none);
    each panel keeps its queries exactly as they were sent; a series without a single value,
    and a panel without a series, are left out.
    """
    first, window = evaluations[0], evaluations[0]["window"]
    out = []
    for key, panel in first["panels"].items():
        refs = [q["ref_id"] for q in panel["queries"]]
        lines: dict[tuple[str, str], dict] = {}
        for evaluated in evaluations:
            for query in evaluated["panels"][key]["queries"]:
                for s in query["series"]:
                    line = lines.setdefault(
                        (query["ref_id"], s["name"]),
                        {"label": s["name"], "ref_id": query["ref_id"], "points": []},
                    )
                    line["points"] += [_point(t, v) for t, v in s["points"]]
        series = sorted(
            (s for s in lines.values() if any(v is not None for _, v in s["points"])),
            key=lambda s: refs.index(s["ref_id"]),
        )
        if not series:
            continue
        out.append(
            {
                "title": panel["title"],
                "caption": panel["description"],
                "unit": panel["unit"],
                "series": series,
                "source": "prometheus",
                "key": key,
                "group": cell_title(cell),
                "cell": cell_key(cell),
                "spans": spans,
                "origin": spans[0][0],
                "variables": first["variables"],
                "step": window["step"],
                "rate_interval": window["rate_interval"],
                "range": [window["start"], evaluations[-1]["window"]["end"]],
                "queries": [
                    {"ref_id": q["ref_id"], "expr": q["expr"], "legend": q["legend"]}
                    for q in panel["queries"]
                ],
            }
        )
    return out


def panel_definitions(keys) -> dict[str, dict]:
    """The dashboards' panels as defined (PromQL with its ``$variables``), for the report."""
    every = dashboard_panels.all_panels()
    return {
        key: {
            "title": every[key].title,
            "description": every[key].description,
            "unit": every[key].unit,
            "queries": [
                {"ref_id": q.ref_id, "expr": q.expr, "legend": q.legend} for q in every[key].queries
            ],
        }
        for key in keys
    }
