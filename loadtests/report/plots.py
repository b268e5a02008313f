"""The report's figures, drawn with matplotlib into inline SVG (no files, no external URLs).

Each function takes the measured cells and returns an SVG string, or None when the cells hold
nothing to draw. Figures share one look: a panel per scenario, a colour per server kind, the
worker counts on the x axis.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict

from loadtests.analysis.capacity import CapacityEntry
from loadtests.analysis.comparisons import by_series, measured
from loadtests.analysis.headroom import headroom
from loadtests.analysis.records import Cell
from loadtests.scenarios import SLOTS

from .tables import scenario_order

# Each server kind's colour and marker, in the order the legends list them.
KINDS = {
    "uvicorn": ("#1f77b4", "o"),
    "gunicorn-gthread": ("#d62728", "s"),
    "gunicorn-uvicorn": ("#2ca02c", "^"),
    "granian": ("#9467bd", "v"),
    "granian-wsgi": ("#ff7f0e", "P"),
    "external": ("#7f7f7f", "D"),
}
COLORS = {kind: color for kind, (color, _) in KINDS.items()}
MARKERS = {kind: marker for kind, (_, marker) in KINDS.items()}
SLOT_HATCH = "//"  # a bar whose ceiling the server's slots set, not the users


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",  # text stays text: smaller, searchable
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    )
    return plt


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    _pyplot().close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype


def _grid(plt, count: int, width: float = 3.3, height: float = 2.6):
    columns = min(3, count)
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    for extra in axes.flat[count:]:
        extra.set_visible(False)
    return fig, list(axes.flat[:count])


def _split(cells):
    """Scenarios measured at several worker counts (a line panel each), and the other cells.

    The others (fan-outs at one worker, say) share one panel of bars, grouped by scenario.
    """
    series = by_series(cells)
    multi, single = [], []
    for scenario in scenario_order(cells):
        servers = {srv: s for (scn, srv), s in series.items() if scn == scenario}
        if len({c.workers for s in servers.values() for c in s}) > 1:
            multi.append((scenario, servers))
        else:
            single += [c for s in servers.values() for c in s]
    return multi, single


def _panelled(cells, title: str, extra, line, bar, axis, place=None) -> str:
    """The grid's figures' frame: a panel per scenario measured at several worker counts, where
    ``line(ax, xs, series, width)`` draws each server kind's series at x ``place(x, i, n)`` (the
    i-th of n kinds beside its worker count); one panel for the rest, where ``bar(ax, x, cell,
    width)`` draws each cell in a group per scenario; ``axis(ax, servers)`` finishes a panel
    (``servers`` None: the bars'); a title, a legend of the server kinds and ``extra(plt)``."""
    place = place or (lambda x, i, n: x + (i - (n - 1) / 2) * 0.08)
    plt = _pyplot()
    multi, single = _split(cells)
    fig, axes = _grid(plt, len(multi) + (1 if single else 0))
    for ax, (scenario, servers) in zip(axes, multi, strict=False):
        x_of, n = _workers_axis(ax, servers), len(servers)
        for i, series in enumerate(servers.values()):
            line(ax, [place(x_of[c.workers], i, n) for c in series], series, 0.8 / max(1, n))
        axis(ax, servers)
        ax.set_title(scenario)
    if single:
        x, width = _bar_positions(axes[-1], single)
        for cell in single:
            bar(axes[-1], x[id(cell)], cell, width)
        axis(axes[-1], None)
    fig.suptitle(title, fontsize=10)
    _legend(plt, fig, cells, extra(plt))
    return _svg(fig)


def _workers_axis(ax, servers: dict) -> dict[int, int]:
    """Categorical x positions of the worker counts measured in a panel."""
    counts = sorted({c.workers for s in servers.values() for c in s})
    ax.set_xticks(range(len(counts)), [str(n) for n in counts])
    ax.set_xlim(-0.5, len(counts) - 0.5)
    ax.set_xlabel("workers")
    return {n: i for i, n in enumerate(counts)}


def _bar_positions(ax, cells) -> dict[int, float]:
    """x of each cell's bar in a panel grouped by scenario, a bar per server kind; by id."""
    scenarios = scenario_order(cells)
    servers = [k for k in COLORS if any(c.server == k for c in cells)]
    width = 0.8 / max(1, len(servers))
    x = {}
    for cell in cells:
        group = scenarios.index(cell.scenario)
        x[id(cell)] = group - 0.4 + width * (servers.index(cell.server) + 0.5)
    workers = sorted({c.workers for c in cells})
    ax.set_xticks(range(len(scenarios)), scenarios, rotation=20, ha="right")
    ax.set_title(f"at {', '.join(map(str, workers))} worker(s)")
    return x, width


def _plain_log(ax, axes: str = "y") -> None:
    """Log scale with plain numbers at 1, 2 and 5 of each decade."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for name in axes:
        axis = ax.yaxis if name == "y" else ax.xaxis
        (ax.set_yscale if name == "y" else ax.set_xscale)("log")
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def _legend(plt, fig, cells, extra=()) -> None:
    handles = [
        plt.Line2D([], [], color=COLORS[k], marker=MARKERS[k], label=k)
        for k in COLORS
        if any(c.server == k for c in cells)
    ]
    fig.legend(
        handles=[*handles, *extra],
        loc="lower center",
        ncol=len(handles) + len(extra),
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.5, -0.02),
    )
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))


def _bar(ax, x: float, value: float, width: float, cell: Cell, **style) -> None:
    """One cell's bar, in its server kind's colour."""
    ax.bar(x, value, width=width * 0.9, color=COLORS.get(cell.server, "#555"), alpha=0.85, **style)


def _mark(ax, y: float, x: float, width: float, linestyle, **style) -> None:
    """A level across one bar (its ceiling, the service time)."""
    ax.hlines(y, x - width / 2, x + width / 2, color="#333", linestyle=linestyle, **style)


def throughput(cells: list[Cell]) -> str | None:
    """Requests/s against workers, per scenario; whiskers: min-max of windows."""
    cells = measured(cells)
    if not cells:
        return None

    def line(ax, xs, series, _):
        color, marker = COLORS.get(series[0].server, "#555"), MARKERS.get(series[0].server, "o")
        ax.errorbar(
            xs,
            [c.rps for c in series],
            yerr=_spread(series),
            color=color,
            marker=marker,
            capsize=3,
            linewidth=1.5,
            markersize=5,
        )
        ceilings = [headroom(c).ceiling_rps for c in series]
        ax.plot(xs, ceilings, color=color, linestyle=":", linewidth=1, alpha=0.8)

    def bar(ax, x, cell, width):
        _bar(ax, x, cell.rps, width, cell)
        ax.errorbar(x, cell.rps, yerr=_spread([cell]), color="#333", capsize=2, linewidth=0.8)
        _mark(ax, headroom(cell).ceiling_rps, x, width, ":", linewidth=1.2)

    def axis(ax, servers):
        ax.set_ylabel("req/s")
        if servers:
            ax.set_ylim(bottom=0)

    def extra(plt):
        ceiling = "ceiling (the users' or the server's slots')"
        return [plt.Line2D([], [], color="#333", linestyle=":", label=ceiling)]

    title = "Throughput (req/s; whiskers: slowest and fastest window)"
    return _panelled(cells, title, extra, line, bar, axis)


def _spread(series):
    low = [c.rps - (c.rps_min or c.rps) for c in series]
    high = [(c.rps_max or c.rps) - c.rps for c in series]
    return [low, high]


def latency(cells: list[Cell]) -> str | None:
    """Client-side p50 (solid), p95 and p99 against workers, log scale."""
    cells = [c for c in measured(cells) if c.latency_ms]
    if not cells:
        return None
    styles = (("p50", "-", 1.0), ("p95", "--", 0.6), ("p99", ":", 0.6))

    def line(ax, xs, series, _):
        for key, style, alpha in styles:
            ax.plot(
                xs,
                [getattr(c.latency_ms, key) for c in series],
                linestyle=style,
                color=COLORS.get(series[0].server, "#555"),
                alpha=alpha,
                marker=MARKERS.get(series[0].server, "o"),
                markersize=4,
            )

    def bar(ax, x, cell, width):
        _bar(ax, x, cell.latency_ms.p50, width, cell)
        for key, marker in (("p95", "_"), ("p99", "x")):
            ax.scatter(
                x, getattr(cell.latency_ms, key), marker=marker, color="#333", s=30, zorder=3
            )
        _mark(ax, cell.service_time_s * 1000, x, width, "-.")

    def axis(ax, servers):
        if servers:
            ax.axhline(_service_ms(servers), color="#333", linestyle="-.", linewidth=0.8)
        _plain_log(ax)
        ax.set_ylabel("client latency, ms" if servers else "client latency, ms (bar: p50)")

    def extra(plt):
        return [
            plt.Line2D([], [], color="#555", linestyle="-", label="p50"),
            plt.Line2D([], [], color="#555", linestyle="--", label="p95"),
            plt.Line2D([], [], color="#555", linestyle=":", label="p99"),
            plt.Line2D([], [], color="#333", linestyle="-.", label="service time"),
        ]

    title = "Client latency (Locust), log scale; bars: p50, ticks: p95, crosses: p99"
    return _panelled(cells, title, extra, line, bar, axis)


def _service_ms(servers: dict) -> float:
    return next(c.service_time_s for s in servers.values() for c in s) * 1000


def client_vs_server(cells: list[Cell]) -> str | None:
    """Client against server latency per cell; above the diagonal is time outside Django."""
    points = [
        c
        for c in measured(cells)
        if c.server_latency_ms and c.server_latency_ms.p50 and c.latency_ms
    ]
    if not points:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    scenarios = scenario_order(points)
    cmap = plt.get_cmap("tab10")
    for ax, key in zip(axes, ("p50", "p99"), strict=True):
        values = []
        for cell in points:
            x, y = getattr(cell.server_latency_ms, key), getattr(cell.latency_ms, key)
            if not x or not y:
                continue
            values += [x, y]
            ax.scatter(
                x,
                y,
                color=cmap(scenarios.index(cell.scenario) % 10),
                marker=MARKERS.get(cell.server, "o"),
                s=30,
                alpha=0.85,
                edgecolors="none",
            )
        if values:
            low, high = min(values) * 0.8, max(values) * 1.25
            ax.plot([low, high], [low, high], color="#333", linewidth=0.8, linestyle="--")
            ax.set_xlim(low, high)
            ax.set_ylim(low, high)
        _plain_log(ax, "xy")
        ax.set_xlabel(f"server {key} (Django's histogram), ms")
        ax.set_ylabel(f"client {key} (Locust), ms")
        ax.set_title(f"{key}: dashed line = no time outside Django")
    handles = [
        plt.Line2D([], [], color=cmap(i % 10), marker="o", linestyle="", label=s)
        for i, s in enumerate(scenarios)
    ] + [
        plt.Line2D([], [], color="#555", marker=m, linestyle="", label=k)
        for k, m in MARKERS.items()
        if any(c.server == k for c in points)
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=5,
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.5, -0.08),
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _svg(fig)


def efficiency(cells: list[Cell]) -> str | None:
    """Measured rate over each cell's ceiling; hatched: the server's slots set it, not the users."""
    cells = [c for c in measured(cells) if (room := headroom(c)) and room.share is not None]
    if not cells:
        return None

    def bar(ax, x, cell, width):
        room = headroom(cell)
        hatch = SLOT_HATCH if room.binds == SLOTS else None
        _bar(ax, x, room.share, width, cell, hatch=hatch, edgecolor="#333", linewidth=0.5)

    def line(ax, xs, series, width):  # bars too, side by side at each worker count
        for x, cell in zip(xs, series, strict=True):
            bar(ax, x, cell, width)

    def axis(ax, _):
        ax.axhline(1.0, color="#333", linestyle="--", linewidth=0.8)
        ax.set_ylim(0, 1.15)
        ax.set_ylabel("req/s / ceiling")

    def extra(plt):
        box = {"facecolor": "white", "edgecolor": "#333"}
        return [
            plt.Rectangle((0, 0), 1, 1, **box, label="users bind"),
            plt.Rectangle((0, 0), 1, 1, **box, hatch=SLOT_HATCH, label="server's slots bind"),
        ]

    def beside(x, i, n):  # the i-th of n kinds' bars, side by side at a worker count
        return x - 0.4 + 0.8 / max(1, n) * (i + 0.5)

    title = "Throughput as a share of each cell's ceiling (1.0 = the ceiling reached)"
    return _panelled(cells, title, extra, line, bar, axis, beside)


# --- The capacity map: p99 against offered load per scenario, λ* against workers -----------

STYLE_LINES = ("-", "--", ":", "-.")
STYLE_MARKERS = ("o", "s", "^", "D")


def latency_figure(entries: list[CapacityEntry], label) -> str | None:
    """p99 against offered load, a panel per scenario, a line per configuration (``label``
    names it), the SLO marked."""
    scenarios = list(dict.fromkeys(e.scenario for e in entries if e.steps))
    if not scenarios:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.2 * len(scenarios), 3.2), squeeze=False)
    for ax, scenario in zip(axes[0], scenarios, strict=True):
        mine = [e for e in entries if e.scenario == scenario and e.steps]
        seen: dict[str, int] = defaultdict(int)  # a server's configurations: one style each
        for e in mine:
            points = sorted((s.offered_rps, s.latency_ms.p99) for s in e.steps if s.latency_ms.p99)
            style = seen[e.server]
            seen[e.server] += 1
            ax.plot(
                *zip(*points, strict=True),
                marker=STYLE_MARKERS[style % len(STYLE_MARKERS)],
                ls=STYLE_LINES[style % len(STYLE_LINES)],
                ms=3,
                label=label(e),
                color=COLORS.get(e.server),
            )
        for slo in sorted({e.slo_p99_ms for e in mine}):
            ax.axhline(slo, color="#555", ls="--", lw=0.8)
            ax.annotate(
                f"SLO {slo:g} ms", (0.01, slo), xycoords=("axes fraction", "data"), fontsize=7
            )
        _plain_log(ax, "xy")
        ax.set(
            title=scenario,
            xlabel="offered req/s",
            ylabel="p99 from intended start, ms",
        )
        ax.legend(fontsize=6)
    return _svg(fig)


def workers_figure(lines: dict[tuple, list[CapacityEntry]]) -> str | None:
    """λ* against workers: one line per configuration (``capacity.worker_lines``) mapped at
    more than one worker count."""
    series = {k: v for k, v in lines.items() if len(v) > 1}
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for (server, threads, scenario, variant), mapped in series.items():
        points = [(e.workers, e.lambda_star_rps) for e in mapped]
        name = (
            f"{scenario}, {server}"
            + (f", {threads} threads" if threads else "")
            + (f", {variant}" if variant else "")
        )
        ax.plot(*zip(*points, strict=True), marker="o", label=name, color=COLORS.get(server))
    ax.set(xlabel="workers", ylabel="λ*, req/s", title="λ* against worker count", ylim=(0, None))
    ax.set_xticks(sorted({e.workers for mapped in series.values() for e in mapped}))
    ax.legend(fontsize=6)
    return _svg(fig)


# --- Prometheus panels: time series, the cells' measured windows shaded ----------------------

# Grafana's unit ids (the dashboards' panels use them) as a reader wants them: label, factor.
UNITS = {
    "s": ("ms", 1000.0),
    "ms": ("ms", 1.0),
    "percentunit": ("%", 100.0),
    "percent": ("%", 1.0),
    "reqps": ("req/s", 1.0),
    "short": ("", 1.0),
}
PALETTE = (*tuple(COLORS.values())[:4], "#8c564b", "#e377c2", "#bcbd22", "#17becf")
DASHES = ("-", (0, (6, 3)), (0, (2, 2)), (0, (8, 3, 2, 3)))  # lines that coincide both show
SPAN_FILL, INK = "#e6e6e6", "#333333"
LEGEND_ENTRIES = 8  # at most; the rest are counted ("and N more")
LEGEND_CHARS = 40
MARKED_POINTS = 40  # a short cell's points are each marked: two points do not pass for a trend
GAP_STEPS = 2.5  # points further apart than this many steps: Prometheus had none between


def unit_label(unit: str) -> tuple[str, float]:
    """How a panel's unit reads on an axis, and the factor its values are multiplied by."""
    return UNITS.get(unit, (unit, 1.0))


def _runs(points, step: float | None) -> list[list[tuple[float, float]]]:
    """Consecutive points with a value: a gap (None, NaN, or more than GAP_STEPS steps without
    a point: Prometheus had no value there) breaks the line rather than bridging it."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None or not math.isfinite(y):
            runs.append([])
        elif step and runs[-1] and x - runs[-1][-1][0] > GAP_STEPS * step:
            runs.append([(x, y)])
        else:
            runs[-1].append((x, y))
    return [run for run in runs if run]


def timeseries(
    title: str,
    unit: str,
    series: list[dict],
    spans: list[tuple[float, float]] = (),
    *,
    origin: float | None = None,
    extent: tuple[float, float] | None = None,
    x_label: str = "seconds",
    width: float = 4.0,
    step: float | None = None,
    reference: tuple[float, str] | None = None,
) -> str:
    """One panel as SVG: title, axes with units, a legend, the measured windows shaded.

    ``series`` are ``{"label", "points": [[unix, value], ...]}``; a value may be None (no data
    there). The x axis counts seconds from ``origin`` (default: the first sample) and spans
    ``extent`` (Unix times; default: the samples and spans), so that panels side by side align.
    ``step``: the points' spacing (a longer gap breaks the line); ``reference``: a value (in the
    panel's unit) and its label, drawn across each span, e.g. the table's figure for the windows.
    """
    from matplotlib.ticker import MaxNLocator

    axis_label, factor = unit_label(unit)
    lines = [
        (
            s.get("label") or "(no label)",
            [(float(t), None if v is None else float(v) * factor) for t, v in s.get("points", [])],
        )
        for s in series
    ]
    times = [t for _, points in lines for t, _ in points]
    if origin is None:
        origin = min(times, default=min((a for a, _ in spans), default=0.0))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(width, 2.5))
    for a, b in spans:
        ax.axvspan(a - origin, b - origin, color=SPAN_FILL, linewidth=0, zorder=0)
    for index, (_, points) in enumerate(lines):
        runs = _runs([(t - origin, y) for t, y in points], step)
        few = sum(map(len, runs)) <= MARKED_POINTS
        for number, run in enumerate(runs):
            ax.plot(
                *zip(*run, strict=True),
                color=PALETTE[index % len(PALETTE)],
                linestyle=DASHES[index % len(DASHES)],
                linewidth=1.2,
                marker="o" if few else None,
                markersize=2.5,
                gid=f"run-{index}-{number}",
            )
    if reference is not None:
        for number, (a, b) in enumerate(spans):
            ax.hlines(
                reference[0] * factor,
                a - origin,
                b - origin,
                color=INK,
                linestyle=(0, (2, 2)),
                linewidth=1.2,
                gid=f"reference-{number}",
            )
    if extent is not None:
        ax.set_xlim(extent[0] - origin, extent[1] - origin)
    values = [y for _, points in lines for _, y in points if y is not None and math.isfinite(y)]
    if reference is not None:
        values.append(reference[0] * factor)
    if not values:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color="#777")
    ax.set_ylim(min([0.0, *values]), max([0.0, *values]) * 1.05 or 1.0)
    ax.yaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
    ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    ax.set_ylabel(axis_label)
    ax.set_xlabel(x_label)
    entries = [
        (plt.Line2D([], [], color=PALETTE[i % len(PALETTE)], linestyle=DASHES[i % len(DASHES)]), x)
        for i, (x, _) in enumerate(lines)
    ]
    if len(entries) > LEGEND_ENTRIES:  # the series past the first few counted, not named
        hidden = len(entries) - (LEGEND_ENTRIES - 1)
        entries[LEGEND_ENTRIES - 1 :] = [(plt.Line2D([], [], linestyle=""), f"and {hidden} more")]
    if spans:
        entries.append((plt.Rectangle((0, 0), 1, 1, color=SPAN_FILL), "measured window"))
    if spans and reference is not None:
        entries.append((plt.Line2D([], [], color=INK, linestyle=(0, (2, 2))), reference[1]))
    if entries:
        handles, labels = zip(*entries, strict=True)
        ax.legend(
            handles,
            [x if len(x) <= LEGEND_CHARS else x[: LEGEND_CHARS - 1] + "\u2026" for x in labels],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.25),
            ncol=2,
            fontsize=8,
            frameon=False,
        )
    # On one line, marked as a time series: a panel sits inline beside its group's others.
    drawn = " ".join(line.strip() for line in _svg(fig).splitlines())
    return drawn.replace("<svg ", '<svg class="ts" ', 1)
