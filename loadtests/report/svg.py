"""Time series as plain SVG: the Prometheus panels, with the cells' measured windows shaded."""

from __future__ import annotations

import math

#
# A sweep can hold a hundred of these (a few per cell): plain SVG keeps the page small and quick
# to render, where a matplotlib figure each would weigh ~50 kB and a quarter of a second.

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
# Grafana's unit ids (the dashboards' panels use them) as a reader wants them: label, factor.
UNITS = {
    "s": ("ms", 1000.0),
    "ms": ("ms", 1.0),
    "percentunit": ("%", 100.0),
    "percent": ("%", 1.0),
    "reqps": ("req/s", 1.0),
    "short": ("", 1.0),
}
LEGEND_ROWS = 4  # at most, of two entries each; the rest are counted ("and N more")
SPAN_FILL, GRID, INK = "#e6e6e6", "#dddddd", "#333333"
DASHES = ("none", "6 3", "2 2", "8 3 2 3")
MARKED_POINTS = 40
GAP_STEPS = 2.5  # points further apart than this many steps: Prometheus had none between


def unit_label(unit: str) -> tuple[str, float]:
    """How a panel's unit reads on an axis, and the factor its values are multiplied by."""
    return UNITS.get(unit, (unit, 1.0))


def nice_ticks(low: float, high: float, count: int = 5) -> tuple[list[float], float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if not high > low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
    first = math.floor(low / step + 1e-9) * step
    ticks, value = [], first
    while value <= high + step * 1e-6:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high - step * 1e-6:
        ticks.append(round(value, 12))
    return ticks, step


def _tick_text(value: float, step: float) -> str:
    exponent = math.floor(math.log10(step) + 1e-9)
    digits = max(0, -exponent + (1 if abs(step / 10**exponent - 2.5) < 1e-6 else 0))
    text = f"{value:,.{digits}f}"
    return "0" if text.strip("-0.,") == "" else text


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _tag(name: str, text: str | None = None, **attrs) -> str:
    """An SVG element: ``stroke_width=2`` is ``stroke-width="2"``, floats get one decimal."""

    def value(v) -> str:
        return f"{v:.1f}" if isinstance(v, float) else _esc(v).replace('"', "&quot;")

    attributes = "".join(f' {k.replace("_", "-")}="{value(v)}"' for k, v in attrs.items())
    if text is None:
        return f"<{name}{attributes}/>"
    return f"<{name}{attributes}>{_esc(text)}</{name}>"


def _style(index: int) -> tuple[str, str]:
    """A series' colour and dashes: lines that coincide (client and server) both show."""
    return PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)]


def _runs(
    points: list[tuple[float, float | None]], step: float | None = None
) -> list[list[tuple[float, float]]]:
    """Consecutive points with a value: a gap (None, NaN, or more than GAP_STEPS steps without
    a point: Prometheus had no value there) breaks the line rather than bridging it."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None or not math.isfinite(y):
            if runs[-1]:
                runs.append([])
            continue
        if step and runs[-1] and x - runs[-1][-1][0] > GAP_STEPS * step:
            runs.append([])
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
    width: int = 400,
    height: int = 250,
    step: float | None = None,
    reference: tuple[float, str] | None = None,
) -> str:
    """One panel as a self-contained SVG: title, axes with units, a legend, windows shaded.

    ``series`` are ``{"label", "points": [[unix, value], ...]}``; a value may be None (no data
    there). The x axis counts seconds from ``origin`` (default: the first sample) and spans
    ``extent`` (Unix times; default: the samples and spans), so that panels side by side align.
    ``step``: the points' spacing (a longer gap breaks the line); ``reference``: a value (in the
    panel's unit) and its label, drawn across each span, e.g. the table's figure for the windows.
    """
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
    xs = [t - origin for t in times] + [edge - origin for span in spans for edge in span]
    if extent is not None:
        xs = [edge - origin for edge in extent]
    values = [y for _, points in lines for _, y in points if y is not None and math.isfinite(y)]
    if reference is not None:
        reference = (reference[0] * factor, reference[1])
        values.append(reference[0])
    x_ticks, x_step = nice_ticks(min(xs, default=0.0), max(xs, default=1.0), 6)
    x_low, x_high = min(xs, default=x_ticks[0]), max(xs, default=x_ticks[-1])
    if x_high <= x_low:
        x_low, x_high = x_ticks[0], x_ticks[-1]
    x_ticks = [x for x in x_ticks if x_low - 1e-9 <= x <= x_high + 1e-9]
    top_value = max([0.0, *values])
    y_ticks, y_step = nice_ticks(min([0.0, *values]), top_value * 1.05 if top_value else 1.0, 4)
    y_low, y_high = y_ticks[0], y_ticks[-1]

    legend = [(label, PALETTE[i % len(PALETTE)], "line") for i, (label, _) in enumerate(lines)]
    if len(legend) > 2 * LEGEND_ROWS:
        hidden = len(legend) - (2 * LEGEND_ROWS - 1)
        legend = [*legend[: 2 * LEGEND_ROWS - 1], (f"and {hidden} more", None, "none")]
    if spans:
        legend.append(("measured window", SPAN_FILL, "box"))
    if spans and reference is not None:
        legend.append((reference[1], INK, "reference"))
    left, right, top = 56, 12, 30
    plot_w = width - left - right
    plot_h = height - top - 38 - 15 * math.ceil(len(legend) / 2)

    def px(x: float) -> float:
        return left + (x - x_low) / (x_high - x_low) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - y_low) / (y_high - y_low) * plot_h

    bottom = top + plot_h
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ts" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" font-family="system-ui,sans-serif" '
        f'font-size="10">',
        _tag("title", title),
        _tag("text", title, x=left, y=16, font_size=12, font_weight=600),
    ]
    for a, b in spans:
        x0, x1 = px(max(a - origin, x_low)), px(min(b - origin, x_high))
        if x1 > x0:
            out.append(_tag("rect", x=x0, y=top, width=x1 - x0, height=plot_h, fill=SPAN_FILL))
    for y in y_ticks:
        out.append(_tag("line", x1=left, x2=left + plot_w, y1=py(y), y2=py(y), stroke=GRID))
        out.append(_tag("text", _tick_text(y, y_step), x=left - 4, y=py(y) + 3, text_anchor="end"))
    for x in x_ticks:
        out.append(_tag("line", x1=px(x), x2=px(x), y1=bottom, y2=bottom + 4, stroke=INK))
        out.append(
            _tag("text", _tick_text(x, x_step), x=px(x), y=bottom + 14, text_anchor="middle")
        )
    out.append(
        _tag("path", d=f"M{left},{top}V{bottom:.1f}H{left + plot_w}", fill="none", stroke=INK)
    )
    out.append(
        _tag(
            "text",
            axis_label,
            transform=f"translate(12,{top + plot_h / 2:.1f}) rotate(-90)",
            text_anchor="middle",
        )
    )
    out.append(_tag("text", x_label, x=left + plot_w / 2, y=bottom + 28, text_anchor="middle"))
    for index, (label, points) in enumerate(lines):
        color, dash = _style(index)
        out.append(f'<g stroke="{color}" fill="{color}">{_tag("title", label)}')
        inside = [(t - origin, y) for t, y in points if x_low <= t - origin <= x_high]
        runs = _runs(inside, step)
        for run in runs:
            if len(run) > 1:
                coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in run)
                out.append(
                    _tag(
                        "polyline",
                        points=coords,
                        fill="none",
                        stroke_width=1.6,
                        stroke_dasharray=dash,
                    )
                )
        # Few samples (a short cell): each is marked, so two points do not pass for a trend.
        if sum(len(run) for run in runs) <= MARKED_POINTS:
            for x, y in (point for run in runs for point in run):
                out.append(_tag("circle", cx=px(x), cy=py(y), r=2.2, stroke="none"))
        out.append("</g>")
    if reference is not None:
        for a, b in spans:
            x0, x1 = px(max(a - origin, x_low)), px(min(b - origin, x_high))
            if x1 > x0:
                out.append(
                    _tag(
                        "line",
                        x1=x0,
                        x2=x1,
                        y1=py(reference[0]),
                        y2=py(reference[0]),
                        stroke=INK,
                        stroke_width=1.4,
                        stroke_dasharray="2,2",
                    )
                )
    column_w = plot_w / 2
    max_chars = int(column_w / 5.6) - 4  # about 5.6 px per character at 10 px
    for index, (label, color, kind) in enumerate(legend):
        x, y = left + (index % 2) * column_w, bottom + 44 + (index // 2) * 15
        if kind == "line":
            out.append(
                _tag(
                    "line",
                    x1=x,
                    x2=x + 16,
                    y1=y - 3,
                    y2=y - 3,
                    stroke=color,
                    stroke_width=2,
                    stroke_dasharray=_style(index)[1],
                )
            )
        elif kind == "reference":
            out.append(
                _tag(
                    "line",
                    x1=x,
                    x2=x + 16,
                    y1=y - 3,
                    y2=y - 3,
                    stroke=color,
                    stroke_width=1.4,
                    stroke_dasharray="2,2",
                )
            )
        elif kind == "box":
            out.append(_tag("rect", x=x, y=y - 8, width=16, height=9, fill=color))
        text = label if len(label) <= max_chars else label[: max_chars - 1] + "\u2026"
        out.append(_tag("text", text, x=x + 20, y=y))
    if not values:
        out.append(
            _tag(
                "text",
                "no data",
                x=left + plot_w / 2,
                y=top + plot_h / 2,
                text_anchor="middle",
                fill="#777",
            )
        )
    out.append("</svg>")
    return "".join(out)


def panel(title: str, unit: str, series: list[dict], spans: list[tuple[float, float]]) -> str:
    """An extension's time series (see hooks), the measured windows shaded behind it."""
    return timeseries(
        title, unit, series, spans, x_label="seconds since the first sample", width=820, height=260
    )
