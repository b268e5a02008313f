"""Whether a cell's time-series panels agree with its tables, and why not where they do not.

The tables' figures come from whole measured windows: req/s is their requests over their length,
a client percentile is exact, from every response time. A panel's point is Prometheus's answer
at a moment: ``rate(...[$__rate_interval])`` over the few seconds before it, a percentile
interpolated within a histogram's buckets over those seconds, one point a step. So a point early
in a run's windows reaches back into the warm-up (users still starting), a window shorter than
the rate interval has no point that lies wholly inside it, and a point is missing where a read
of /metrics failed. Each sentence here sets the panel's client line (its mean over the windows)
beside the table's figure and, where they differ, says which of those its own data show.
"""

from __future__ import annotations

import bisect
import re

from dashboards import panels as dashboard_panels
from dashboards.locust_exporter import BUCKETS
from loadtests.analysis.comparisons import rate
from loadtests.analysis.records import Cell
from loadtests.analysis.results import Results
from loadtests.prometheus.panels import cell_key, runs

from .jinja import Sentences

say = Sentences("agreement.j2")

# The dashboards' side-by-side panels of Locust's and the app's req/s, and latency percentile.
THROUGHPUT_PANEL = dashboard_panels.throughput_compare().key
LATENCY_PANEL = dashboard_panels.latency_compare().key
AGREES_WITHIN = 0.10  # panel mean and table closer than this share: they agree
# A point whose range starts less than this before a run still counts as wholly inside it: a
# point stored to the millisecond, at the end of windows that last their seconds to a few ms.
EDGE_S = 0.01
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(duration: str | None) -> float | None:
    """A Prometheus duration ("4s", "1m") in seconds; None when it is not one."""
    match = _DURATION.match(duration or "")
    return float(match[1]) * _SECONDS[match[2]] if match else None


def _table_figure(panel: dict, cell: Cell) -> tuple[float, str, str] | None:
    """The table's figure for what the client line draws: (value in the panel's unit, its unit
    as read, how the table came by it); None where the tables have no such figure."""
    if panel.get("key") == THROUGHPUT_PANEL and cell.rps is not None:
        return cell.rps, "req/s", "the mean of its whole windows"
    percentile = f"p{round(dashboard_panels.COMPARED_QUANTILE * 100)}"
    value = getattr(cell.latency_ms, percentile, None)
    if panel.get("key") != LATENCY_PANEL or value is None:
        return None
    return value / 1000.0, "ms", "exact, from every response time of its windows"


def sentence(panel: dict, cell: Cell) -> str | None:
    """The client line's mean inside the windows beside the table's figure, and why they differ."""
    client = [
        s for s in panel.get("series", []) if s.get("label") == dashboard_panels.CLIENT_LEGEND
    ]
    figure, stretches = _table_figure(panel, cell), runs(panel.get("spans") or [])
    if not client or figure is None or not stretches:
        return None
    value, unit, _ = figure
    name, table = say.name(panel.get("title", ""), client[0]["label"]), say.table(*figure)
    inside = [
        (t, v, a)
        for t, v in client[0].get("points", [])
        for a, b in stretches
        if v is not None and a <= t <= b
    ]
    if not inside:
        return say.no_point(name, table)
    values = [v for _, v, _ in inside]
    mean = sum(values) / len(values)
    gap = mean / value - 1 if value else 0.0
    causes = []
    if abs(gap) > AGREES_WITHIN:
        causes = _causes(panel, inside, stretches, unit, mean)
        if unit == "ms":
            causes.insert(0, say.buckets(_bucket(mean), _bucket(value)))
    return say.averages(name, table, values, unit, mean, gap, AGREES_WITHIN, causes)


def _bucket(seconds_: float) -> str:
    """The exporter's histogram bucket holding a value, in ms."""
    i = bisect.bisect_left(BUCKETS, seconds_)
    low = BUCKETS[i - 1] * 1000 if i else 0
    return f"{low:g}-{BUCKETS[i] * 1000:g} ms" if i < len(BUCKETS) else f"above {low:g} ms"


def _causes(panel: dict, inside, stretches, unit: str, mean: float) -> list[str]:
    """What the panel's own data show of why its points differ from the windows' figure."""
    width = seconds(panel.get("rate_interval"))
    step = panel.get("step") or 1.0
    causes = []
    if width:
        back = [v for t, v, start in inside if t - width < start - EDGE_S]
        clean = [v for t, v, start in inside if t - width >= start - EDGE_S]
        clean_mean = sum(clean) / len(clean) if clean else None
        if back and clean_mean is not None and abs(clean_mean / mean - 1) <= AGREES_WITHIN:
            # The points that reach into the warm-up move the mean by less than the verdict's
            # margin: the warm-up is not the difference, and saying so is the evidence.
            causes.append(say.not_warm_up(len(clean), width, clean_mean, unit))
            back = clean = []
        if back:
            short = min(b - a for a, b in stretches)
            causes.append(say.reach_back(len(back), width, unit, short))
        if clean:
            causes.append(say.inside(len(clean), width, clean_mean, unit))
    expected = sum(int(b // step) - int(-(-a // step)) + 1 for a, b in stretches)
    if expected > len(inside):
        causes.append(say.missing(len(inside), expected))
    return causes or [say.extrapolated(panel.get("rate_interval", "?"))]


def table_rates(record: Results) -> dict[str, tuple[float, str]]:
    """Each measured cell's table req/s by its panels' ``cell`` key, labelled for a legend."""
    return {
        cell_key(c): (c.rps, f"table: {rate(c.rps)} req/s")
        for c in record.cells
        if c.rps is not None
    }


def sentences(record: Results) -> dict[str, list[str]]:
    """Each cell group's sentences (by the panels' ``group``), one per panel the tables match."""
    cells = {cell_key(c): c for c in record.cells}
    out: dict[str, list[str]] = {}
    for panel in record.panels or []:
        cell = cells.get(panel.get("cell"))
        said = sentence(panel, cell) if cell is not None and panel.get("group") else None
        if said:
            out.setdefault(panel["group"], []).append(said)
    return out
