"""A cell's Prometheus panels: the dashboards' PromQL, evaluated over the cell, as report panels."""

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


def _time(unix: float) -> float | int:
    return int(unix) if float(unix).is_integer() else round(unix, TIME_DECIMALS)


def _round(value: float | None) -> float | None:
    """Six significant digits: more than any of these measurements holds."""
    return None if value is None else float(f"{value:.6g}")


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


def merge_runs(evaluations: list[dict]) -> dict:
    """Each run's ``evaluate_panels`` answer as one: a series's points run after run (the
    seconds between runs, other cells' runs, have none), the window spanning them all."""
    first = evaluations[0]
    merged = {**first, "window": {**first["window"], "end": evaluations[-1]["window"]["end"]}}
    panels: dict = {}
    for evaluated in evaluations:
        for key, panel in evaluated["panels"].items():
            into = panels.setdefault(key, {**panel, "queries": []})
            for query in panel["queries"]:
                found = next((q for q in into["queries"] if q["ref_id"] == query["ref_id"]), None)
                if found is None:
                    found = {**query, "series": []}
                    into["queries"].append(found)
                for series in query["series"]:
                    same = next((s for s in found["series"] if s["name"] == series["name"]), None)
                    if same is None:
                        found["series"].append({**series, "points": list(series["points"])})
                    else:
                        same["points"] += series["points"]
    merged["panels"] = panels
    return merged


def cell_title(cell: Cell) -> str:
    workers = cell.workers
    return f"{cell.scenario} on {cell.server}, {workers} worker{'s' if workers != 1 else ''}"


def seam_panels(evaluated: dict, cell: Cell, spans: list[list[float]]) -> list[dict]:
    """``evaluate_panels``' answer as results.json's ``panels``, one group per cell.

    Each panel keeps its queries exactly as they were sent; a series without a single value,
    and a panel without a series, are left out.
    """
    window = evaluated["window"]
    out = []
    for key, panel in evaluated["panels"].items():
        series = [
            {
                "label": s["name"],
                "ref_id": query["ref_id"],
                "points": [[_time(t), _round(v)] for t, v in s["points"]],
            }
            for query in panel["queries"]
            for s in query["series"]
            if any(v is not None for _, v in s["points"])
        ]
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
                "variables": evaluated["variables"],
                "step": window["step"],
                "rate_interval": window["rate_interval"],
                "range": [window["start"], window["end"]],
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
