"""Numbers as text and the report's tables, as header and rows, rendered to Markdown or HTML."""

from __future__ import annotations

import html

from loadtests.scenarios import SCENARIOS, WSGI_KINDS


def _n(value, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value < 10 and digits == 0:
        return f"{value:.1f}"
    return f"{value:,.{digits}f}"


def _pct(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def _triple(latency: dict | None) -> str:
    if not latency:
        return "-"
    return " / ".join(_n(latency.get(k)) for k in ("p50", "p95", "p99"))


def _rate(cell: dict) -> str:
    if cell.get("rps") is None:
        return "error"
    low, high = cell.get("rps_min"), cell.get("rps_max")
    spread = (
        f" ({_n(low)}-{_n(high)})" if low is not None and high is not None and low != high else ""
    )
    return f"{_n(cell['rps'])}{spread}"


def _where(cell: dict) -> str:
    server = cell["server"]
    if server in WSGI_KINDS and cell.get("threads"):
        return f"{server} ({cell['threads']} threads)"
    return server


# --- tables -----------------------------------------------------------------------------------


def _scenario_order(cells: list[dict]) -> list[str]:
    present = {c["scenario"] for c in cells}
    return [s for s in SCENARIOS if s in present] + sorted(present - set(SCENARIOS))


def overview_rows(cells: list[dict]) -> tuple[list[str], list[list[str]]]:
    """req/s (and efficiency) per scenario and server kind, one column per worker count."""
    counts = sorted({c["workers"] for c in cells})
    header = [
        "scenario",
        "server",
        *[f"{n} worker{'s' if n != 1 else ''}" if n else "req/s" for n in counts],
    ]
    rows = []
    for scenario in _scenario_order(cells):
        servers = dict.fromkeys(c["server"] for c in cells if c["scenario"] == scenario)
        for server in servers:
            row = [scenario, server]
            for n in counts:
                cell = next(
                    (
                        c
                        for c in cells
                        if (c["scenario"], c["server"], c["workers"]) == (scenario, server, n)
                    ),
                    None,
                )
                if cell is None:
                    row.append("")
                elif cell.get("rps") is None:
                    row.append("error")
                else:
                    row.append(f"{_n(cell['rps'])} ({_pct(cell.get('efficiency'))})")
            rows.append(row)
    return header, rows


def detail_rows(cells: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = [
        "scenario",
        "server",
        "workers",
        "users",
        "req/s (min-max)",
        "Little ceiling",
        "eff.",
        "model ceiling",
        "of model",
        "client p50/p95/p99 ms",
        "server p50/p95/p99 ms",
        "requests",
        "failures",
        "server CPU %",
        "RSS MB",
        "threads",
        "Locust CPU %",
        "flags",
    ]
    rows = []
    for cell in sorted(
        cells,
        key=lambda c: (_scenario_order(cells).index(c["scenario"]), c["server"], c["workers"]),
    ):
        server = cell.get("server_process") or {}
        rows.append(
            [
                cell["scenario"],
                _where(cell),
                str(cell["workers"]),
                str(cell["users"]),
                _rate(cell),
                _n(cell.get("littles_law_rps")),
                _pct(cell.get("efficiency")),
                _n(cell.get("model_rps")),
                _pct(cell.get("model_efficiency")),
                _triple(cell.get("latency_ms")),
                _triple(cell.get("server_latency_ms")),
                _n(cell.get("requests")),
                _n(cell.get("failures")),
                _n(server.get("cpu_percent")),
                _n(server.get("rss_mb")),
                _n(server.get("threads")),
                _n((cell.get("generator") or {}).get("cpu_percent")),
                ", ".join(cell.get("flags", [])) or "",
            ]
        )
    return header, rows


def upstream_rows(cells: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = [
        "scenario",
        "server",
        "workers",
        "upstream CPU %",
        "calls",
        "calls/s",
        "call p50/p95/p99 ms",
        "call statuses",
    ]
    rows = []
    for cell in cells:
        up = cell.get("upstream")
        if not up:
            continue
        seconds = sum(w.get("duration_s", 0) for w in cell.get("windows", [])) or None
        rows.append(
            [
                cell["scenario"],
                cell["server"],
                str(cell["workers"]),
                _n(up.get("cpu_percent")),
                _n(up.get("calls")),
                _n(up["calls"] / seconds) if up.get("calls") is not None and seconds else "-",
                _triple(up.get("call_latency_ms")),
                ", ".join(f"{k}: {v}" for k, v in (up.get("call_statuses") or {}).items()),
            ]
        )
    return header, rows


def model_rows(cells: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["scenario", "server", "workers", "model ceiling", "why", "measured", "of model"]
    rows = [
        [
            c["scenario"],
            c["server"],
            str(c["workers"]),
            _n(c.get("model_rps")),
            c.get("model", ""),
            _n(c.get("rps")),
            _pct(c.get("model_efficiency")),
        ]
        for c in cells
        if c.get("model")
    ]
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def clean(text: str) -> str:
        return str(text).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(clean(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)

    def cell(value) -> str:
        text = str(value)
        numeric = not text or text[0].isdigit() or text[0] in "-("
        return (
            f"<td>{html.escape(text)}</td>"
            if numeric
            else f'<td class="t">{html.escape(text)}</td>'
        )

    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(svg: str | None, sentences: list[str], fallback: str) -> str:
    caption = " ".join(html.escape(s) for s in sentences) or html.escape(fallback)
    if svg is None:
        return f"<p>{caption}</p>"
    return f"<figure>{svg}<figcaption>{caption}</figcaption></figure>"


def inline_code(text: str) -> str:
    escaped = html.escape(text)
    parts = escaped.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
