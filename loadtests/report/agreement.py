"""Whether a cell's throughput panel agrees with its table's req/s, and why not where it does not.

The table's req/s is the requests of whole measured windows over their length. The panel's
points are Prometheus's ``rate(...[$__rate_interval])``: each the rate over the few seconds
before its moment, one a step. So a point early in a run's windows reaches back into the
warm-up (users still starting, fewer requests), a window shorter than the rate interval has no
point that lies wholly inside it, and a point is missing where a read of /metrics failed. The
sentence here quotes the panel's own mean over the windows beside the table's figure and, where
they differ, which of those its data show.
"""

from __future__ import annotations

import re

from loadtests.analysis.comparisons import rate
from loadtests.analysis.records import Cell, Results
from loadtests.prometheus.panels import cell_key

THROUGHPUT_PANEL = "throughput_compare"  # the dashboards' panel of Locust's and the app's req/s
CLIENT_METRIC = "locust_requests_total"  # the query of it that counts what the table counts
AGREES_WITHIN = 0.10  # panel mean and table closer than this share: they agree
CONTIGUOUS_S = 0.5  # windows closer than this are one run's
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(duration: str | None) -> float | None:
    """A Prometheus duration ("4s", "1m") in seconds; None when it is not one."""
    match = _DURATION.match(duration or "")
    return float(match[1]) * _SECONDS[match[2]] if match else None


def runs(spans) -> list[tuple[float, float]]:
    """The measured windows merged into each run's stretch of back-to-back windows."""
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] <= CONTIGUOUS_S:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _client_series(panel: dict) -> dict | None:
    client = {q["ref_id"] for q in panel.get("queries", []) if CLIENT_METRIC in q["expr"]}
    series = panel.get("series", [])
    return next((s for s in series if s.get("ref_id") in client), series[0] if series else None)


def sentence(panel: dict, cell: Cell) -> str | None:
    """The panel's mean inside the windows beside the table's req/s, and any difference's cause."""
    series, stretches = _client_series(panel), runs(panel.get("spans") or [])
    if series is None or not stretches or cell.rps is None:
        return None
    name = f"The panel's {series.get('label', 'client')} line"
    inside = [
        (t, v, a)
        for t, v in series.get("points", [])
        for a, b in stretches
        if v is not None and a <= t <= b
    ]
    table = f"the table's {rate(cell.rps)} req/s (the mean of its whole windows)"
    if not inside:
        return (
            f"{name} has no point inside the measured windows, so it cannot be set beside {table}."
        )
    values = [v for _, v, _ in inside]
    mean = sum(values) / len(values)
    said = (
        f"{name} averages {rate(mean)} req/s over its {len(values)} point(s) inside the "
        f"measured windows (peak {rate(max(values))}) against {table}"
    )
    gap = mean / cell.rps - 1
    if abs(gap) <= AGREES_WITHIN:
        return f"{said}: they agree within {AGREES_WITHIN:.0%}."
    return (
        f"{said}, {abs(gap):.0%} {'lower' if gap < 0 else 'higher'}: "
        + "; ".join(_causes(panel, inside, stretches))
        + "."
    )


def _causes(panel: dict, inside, stretches) -> list[str]:
    """What the panel's own data show of why its points differ from the windows' mean."""
    width = seconds(panel.get("rate_interval"))
    step = panel.get("step") or 1.0
    causes = []
    if width:
        back = [v for t, v, start in inside if t - width < start]
        clean = [v for t, v, start in inside if t - width >= start]
        if back:
            causes.append(
                f"{len(back)} of them are rates over the {width:g} s before their moment, which "
                "reach back before the run's first window into its warm-up, while users were "
                "still starting"
                + (
                    f" (a run's windows last {min(b - a for a, b in stretches):.1f} s here, less "
                    f"than the {width:g} s a point covers)"
                    if any(b - a < width for a, b in stretches)
                    else ""
                )
            )
        if clean:
            causes.append(
                f"the {len(clean)} point(s) whose {width:g} s lie wholly inside the windows "
                f"average {rate(sum(clean) / len(clean))} req/s"
            )
    expected = sum(int(b // step) - int(-(-a // step)) + 1 for a, b in stretches)
    if expected > len(inside):
        causes.append(
            f"Prometheus has a value at {len(inside)} of the windows' {expected} instants "
            "(a rate has none before a job's second sample, or where a read of /metrics failed "
            "or came late)"
        )
    if not causes:
        causes.append(
            f"each point is a rate over the {panel.get('rate_interval', '?')} before its moment, "
            "extrapolated by Prometheus to that interval's edges, while the table divides whole "
            "windows' requests by their length"
        )
    return causes


def table_rates(record: Results) -> dict[str, tuple[float, str]]:
    """Each measured cell's table req/s by its panels' ``cell`` key, labelled for a legend."""
    return {
        cell_key(c): (c.rps, f"table: {rate(c.rps)} req/s")
        for c in record.cells
        if c.rps is not None
    }


def sentences(record: Results) -> dict[str, str]:
    """Each cell group's sentence (by the panels' ``group``), for the cells with a panel."""
    cells = {cell_key(c): c for c in record.cells}
    out = {}
    for panel in record.panels or []:
        if panel.get("key") != THROUGHPUT_PANEL or panel.get("cell") not in cells:
            continue
        said = sentence(panel, cells[panel["cell"]])
        if said:
            out[panel["group"]] = said
    return out
