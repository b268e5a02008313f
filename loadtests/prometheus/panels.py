"""A cell's Prometheus panels: the dashboards' PromQL, evaluated over the cell, as report panels."""

from __future__ import annotations

from dashboards import panels as dashboard_panels
from loadtests.analysis.records import Cell


def _time(unix: float) -> float | int:
    return int(unix) if float(unix).is_integer() else round(unix, 3)


def _round(value: float | None) -> float | None:
    """Six significant digits: more than any of these measurements holds."""
    return None if value is None else float(f"{value:.6g}")


def cell_key(cell: Cell) -> str:
    """The key the sweep names a cell by (``CellPlan.key``)."""
    return f"{cell.server}/{cell.workers}/{cell.scenario}"


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
