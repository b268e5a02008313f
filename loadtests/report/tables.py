"""Numbers as text and the report's tables, as header and rows, rendered to Markdown or HTML."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from loadtests.analysis.headroom import headroom
from loadtests.analysis.records import Cell, LatencyMs, ProcessUse
from loadtests.scenarios import SCENARIOS
from mysite.servers import WSGI_KINDS

Table = tuple[list[str], list[list[str]]]  # a header and its rows, rendered by either format


class Part(NamedTuple):
    """A section of sentences, one table and the rule it was measured by (templates/parts.*)."""

    title: str
    said: list[str]
    table: Table
    rule: str


OVERVIEW_CELL = "req/s (of ceiling, binds)"  # what each cell of the overview holds


def number(value: float | None, digits: int = 0) -> str:
    """A figure with thousands separators and these decimals, or '-' where there is none."""
    return "-" if value is None else f"{value:,.{digits}f}"


def interval(pair, digits: int = 0, form: str = "[{}, {}]") -> str:
    """A (low, high) pair as numbers in ``form``, or '-' where there is none."""
    return form.format(number(pair[0], digits), number(pair[1], digits)) if pair else "-"


def unless(failed, read):
    """A column that an item for which ``failed`` holds leaves at '-'."""
    return lambda item: "-" if failed(item) else read(item)


def _n(value, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value < 10 and digits == 0:
        return f"{value:.1f}"
    return f"{value:,.{digits}f}"


def _pct(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def _triple(latency: LatencyMs | None) -> str:
    if not latency:
        return "-"
    return " / ".join(_n(getattr(latency, k)) for k in ("p50", "p95", "p99"))


def _rate(cell: Cell) -> str:
    if cell.rps is None:
        return "error"
    low, high = cell.rps_min, cell.rps_max
    spread = (
        f" ({_n(low)}-{_n(high)})" if low is not None and high is not None and low != high else ""
    )
    return f"{_n(cell.rps)}{spread}"


def _where(cell: Cell) -> str:
    server = cell.server
    if server in WSGI_KINDS and cell.threads:
        return f"{server} ({cell.threads} threads)"
    return server


# --- tables -----------------------------------------------------------------------------------


def scenario_order(cells: list[Cell]) -> list[str]:
    """The scenarios present, in the lab's order, then any other by name."""
    present = {c.scenario for c in cells}
    return [s for s in SCENARIOS if s in present] + sorted(present - set(SCENARIOS))


def _ceiling(cell: Cell) -> str:
    """'160 (users)': the cell's ceiling in req/s and what sets it."""
    room = headroom(cell)
    return "-" if room is None else f"{_n(room.ceiling_rps)} ({room.binds})"


def _of_ceiling(cell: Cell) -> str:
    room = headroom(cell)
    return "-" if room is None else _pct(room.share)


def _overview(cell: Cell | None) -> str:
    """'151 (94%, users)': a cell's req/s, the share of its ceiling and what sets it."""
    if cell is None:
        return ""
    if cell.rps is None:
        return "error"
    room = headroom(cell)
    return f"{_n(cell.rps)} ({f'{_pct(room.share)}, {room.binds}' if room else '-'})"


def overview_rows(cells: list[Cell]) -> Table:
    """req/s (and the share of its ceiling) per scenario and server kind, a column per worker
    count."""
    counts = sorted({c.workers for c in cells})
    header = [
        "scenario",
        "server",
        *[
            f"{n} worker{'s' if n != 1 else ''}: {OVERVIEW_CELL}" if n else OVERVIEW_CELL
            for n in counts
        ],
    ]
    by_place = {(c.scenario, c.server, c.workers): c for c in reversed(cells)}  # the first wins
    rows = []
    for scenario in scenario_order(cells):
        for server in dict.fromkeys(c.server for c in cells if c.scenario == scenario):
            rows.append(
                [
                    scenario,
                    server,
                    *(_overview(by_place.get((scenario, server, n))) for n in counts),
                ]
            )
    return header, rows


DETAIL = (
    ("scenario", lambda c: c.scenario),
    ("server", _where),
    ("workers", lambda c: str(c.workers)),
    ("users", lambda c: str(c.users)),
    ("req/s (min-max)", _rate),
    ("ceiling (binds)", _ceiling),
    ("of ceiling", _of_ceiling),
    ("client p50/p95/p99 ms", lambda c: _triple(c.latency_ms)),
    ("server p50/p95/p99 ms", lambda c: _triple(c.server_latency_ms)),
    ("requests", lambda c: _n(c.requests)),
    ("failures", lambda c: _n(c.failures)),
    ("server CPU %", lambda c: _n((c.server_process or ProcessUse()).cpu_percent)),
    ("RSS MB", lambda c: _n((c.server_process or ProcessUse()).rss_mb)),
    ("threads", lambda c: _n((c.server_process or ProcessUse()).threads)),
    ("Locust CPU %", lambda c: _n(c.generator.cpu_percent if c.generator else None)),
    ("flags", lambda c: ", ".join(c.flags) or ""),
)


Column = tuple[str, Callable[[Any], str]]  # a header, and how an item reads under it


def table(columns: Iterable[Column], items: Iterable) -> Table:
    """A header and a row per item, from (header, how an item reads in that column) pairs."""
    return [h for h, _ in columns], [[read(item) for _, read in columns] for item in items]


def detail_rows(cells: list[Cell]) -> Table:
    order = scenario_order(cells)
    return table(
        DETAIL, sorted(cells, key=lambda c: (order.index(c.scenario), c.server, c.workers))
    )


def _ci(value, interval) -> str:
    if value is None:
        return "-"
    if not interval:
        return _n(value)
    return f"{_n(value)} [{_n(interval[0])}-{_n(interval[1])}]"


def _bucketed(latency: LatencyMs | None) -> str:
    """Server percentiles with the bucket each fell in, where it is wider than 1 ms."""
    if not latency:
        return "-"
    parts = []
    for key in ("p50", "p95", "p99"):
        value, bucket = getattr(latency, key), getattr(latency, f"{key}_bucket")
        if value is not None and bucket and (bucket[1] is None or bucket[1] - bucket[0] > 1):
            parts.append(f"{_n(value)} ({_n(bucket[0])}-{_n(bucket[1]) if bucket[1] else 'inf'})")
        else:
            parts.append(_n(value))
    return " / ".join(parts)


def _in_flight(cell: Cell) -> str:
    if cell.achieved_concurrency is None or cell.concurrency_tolerance is None:
        return "-"
    return f"{cell.achieved_concurrency:.2f} of {cell.users} (+{cell.concurrency_tolerance:.2f})"


def _warm_up(cell: Cell) -> str:
    warm = [w.seconds for w in cell.warmups or []]
    return f"{min(warm):.1f}-{max(warm):.1f}" if warm else "-"


def _lat(cell: Cell) -> LatencyMs:
    return cell.latency_ms or LatencyMs()


def _calls_per_s(cell: Cell) -> str:
    calls, seconds = cell.upstream.calls, sum(w.duration_s for w in cell.windows) or None
    return _n(calls / seconds) if calls is not None and seconds else "-"


WHERE = (
    ("scenario", lambda c: c.scenario),
    ("server", lambda c: c.server),
    ("workers", lambda c: str(c.workers)),
)
INTERVALS = (
    *WHERE,
    ("runs", lambda c: _n(c.repeats)),
    ("req/s [95% CI]", lambda c: _ci(c.rps, c.rps_ci95)),
    ("client p50 ms [CI]", lambda c: _ci(_lat(c).p50, _lat(c).p50_ci95)),
    ("p95 [CI]", lambda c: _ci(_lat(c).p95, _lat(c).p95_ci95)),
    ("p99 [CI]", lambda c: _ci(_lat(c).p99, _lat(c).p99_ci95)),
    ("server p50/p95/p99 ms (bucket)", lambda c: _bucketed(c.server_latency_ms)),
    ("in flight of users (+tolerance)", _in_flight),
    ("warm-up s", _warm_up),
    (
        "requests per worker",
        lambda c: ", ".join(map(str, c.server_requests_by_worker or [])) or "-",
    ),
)
UPSTREAM = (
    *WHERE,
    ("upstream CPU %", lambda c: _n(c.upstream.cpu_percent)),
    ("calls", lambda c: _n(c.upstream.calls)),
    ("calls/s", _calls_per_s),
    ("call p50/p95/p99 ms", lambda c: _triple(c.upstream.call_latency_ms)),
    (
        "call statuses",
        lambda c: ", ".join(f"{k}: {v}" for k, v in (c.upstream.call_statuses or {}).items()),
    ),
)
CEILINGS = (
    *WHERE,
    ("users' ceiling", lambda c: _n(c.littles_law_rps)),
    ("ceiling (binds)", _ceiling),
    ("arithmetic", lambda c: headroom(c).arithmetic),
    ("measured", lambda c: _n(c.rps)),
    ("of ceiling", lambda c: _pct(headroom(c).share)),
)


def interval_rows(cells: list[Cell]) -> Table:
    """Each cell's estimates with their 95% intervals, and the checks of its measurement."""
    return table(INTERVALS, [c for c in cells if c.rps_ci95 is not None])


def upstream_rows(cells: list[Cell]) -> Table:
    return table(UPSTREAM, [c for c in cells if c.upstream])


def ceiling_rows(cells: list[Cell]) -> Table:
    """Each cell's ceiling: the users' (Little's law), the one that binds and its arithmetic."""
    return table(CEILINGS, [c for c in cells if headroom(c) is not None])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def clean(text: str) -> str:
        return str(text).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(clean(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _wrapping(text: str) -> str:
    """Escaped text that wraps at its spaces only: 'gunicorn-gthread' stays whole."""
    words = (html.escape(w) for w in text.split(" "))
    return " ".join(f'<span class="nw">{w}</span>' if "-" in w else w for w in words)


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_wrapping(h)}</th>" for h in header)

    def cell(value) -> str:
        text = str(value)
        numeric = not text or text[0].isdigit() or text[0] in "-("
        return (
            f"<td>{html.escape(text)}</td>" if numeric else f'<td class="t">{_wrapping(text)}</td>'
        )

    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    # The wrapper scrolls a table wider than the page instead of the page itself.
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="wide">{table}</div>'


def inline_code(text: str) -> str:
    """Markdown's `code` and **bold** as HTML: the sentences are written once, for both."""
    escaped = html.escape(text)
    parts = escaped.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else _bold(p) for i, p in enumerate(parts))


def _bold(text: str) -> str:
    parts = text.split("**")
    if len(parts) % 2 == 0:  # an unpaired marker: leave the text as it is
        return text
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
