"""``summary.md``: the run in words, the findings and the tables, readable on their own."""

from __future__ import annotations

from loadtests.analysis import findings

from .panels import prometheus_summary
from .tables import (
    _n,
    detail_rows,
    markdown_table,
    model_rows,
    overview_rows,
    upstream_rows,
)

DEFINITIONS = [
    (
        "Closed loop",
        "Every Locust user sends its next request as soon as the last one is answered (no "
        "think time), so the users are the requests in flight. Each request opens a new "
        "connection unless the run says keep-alive.",
    ),
    (
        "Little's-law ceiling",
        "users / service time: the most a closed loop of that many users can reach when every "
        "request takes only its service time. The service time is `delay` for the sleep views "
        "and for the concurrent fan-outs (their calls overlap, so a request waits one upstream "
        "`delay`), and `fanout x delay` for the sequential baseline. efficiency = req/s / "
        "this ceiling.",
    ),
    (
        "Model ceiling",
        "min(users, slots) / service time, where slots are the requests the server can hold "
        "at once: workers x threads for gunicorn gthread (any view); unlimited for an ASGI "
        "worker's async views and for its sync views (Django runs each in a thread of its own); "
        "one per worker for the blocking async view, which stalls the event loop; and the "
        "per-worker pool of 100 upstream connections / fanout for the fan-outs.",
    ),
    (
        "Client and server latency",
        "Client: Locust's response times in the measured windows. Server: percentiles "
        "interpolated in the app's own `http_server_request_duration_seconds` histogram, from "
        "the difference of two /metrics scrapes taken at the windows' edges (boundaries set just "
        "above the scenario's service time). The gap is time outside Django: the accept queue, a "
        "busy gunicorn thread, a blocked event loop, the network stack, Locust itself.",
    ),
    (
        "Windows and spread",
        "After spawning and a warm-up (at least one expected latency, so queues are full), the "
        "cell's repeats are back-to-back windows of one run (or fresh runs, if the profile says "
        "so). req/s is their mean and min-max their spread; percentiles pool every window.",
    ),
    (
        "Flags",
        "failures: some requests failed their checks; generator-saturated: a Locust process "
        "passed 90% of a core; server-cpu-bound: the server used over 85% of its cores; "
        "upstream-busy: the upstream passed 50% of its one core; workers-not-ready: not every "
        "worker answered before the load began; error: the cell could not be measured.",
    ),
]


def describe_run(meta: dict) -> list[str]:
    machine, versions = meta.get("machine", {}), meta.get("versions", {})
    params = meta.get("parameters", {})
    git = meta.get("git", {})
    commit = (git.get("commit") or "unknown")[:10] + (
        " (uncommitted changes)" if git.get("dirty") else ""
    )
    lines = [
        f"Run `{meta.get('run_id', '?')}`, profile `{meta.get('profile', '?')}`, status "
        f"**{meta.get('status', '?')}**: {meta.get('started_at', '?')} to "
        f"{meta.get('ended_at') or '?'} ({_n(meta.get('duration_s'))} s). "
        f"Command: `{meta.get('command', '')}`.",
        f"Machine: {machine.get('cpu_model', '?')}, {machine.get('cpu_count', '?')} CPU(s) "
        f"({machine.get('cpus_available', '?')} available), {machine.get('memory_gb', '?')} GB, "
        f"{machine.get('platform', '?')}; Python {machine.get('python', '?')}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + f"; git {commit}.",
        f"Load: {params.get('users', '?')} closed-loop Locust users per cell, delay "
        f"{params.get('delay', '?')} s, fan-out {params.get('fanout', '?')}, gunicorn gthread "
        f"threads {params.get('threads', '?')}; warm-up at least {params.get('warmup', '?')} s, "
        f"then {params.get('repeats', '?')} x {params.get('window', '?')} s windows "
        f"({'a fresh server for each' if params.get('restart_per_repeat') else 'back to back'}); "
        f"connections: {meta.get('connections', '?')}; generator: "
        f"{(meta.get('generator') or {}).get('mode', '?')}.",
        f"Pinning: {meta.get('pinning', '?')}. Target: {meta.get('target', '?')}.",
    ]
    return lines


def problems(cells: list[dict], meta: dict) -> list[str]:
    lines = [
        f"{c['server']} x{c['workers']} {c['scenario']}: {c['error']}"
        for c in cells
        if c.get("error")
    ]
    if meta.get("skipped_cells"):
        lines.append("Not measured: " + ", ".join(meta["skipped_cells"]))
    lines += meta.get("notes", [])
    return lines


def summary_markdown(record: dict) -> str:
    meta, cells = record["meta"], record["cells"]
    parts = ["# Django async lab: sweep summary", "", *describe_run(meta), ""]
    found = findings.all_findings(cells)
    if found:
        parts += ["## Findings", "", *[f"- {s}" for s in found], ""]
    parts += [
        "## Throughput, req/s (efficiency against the Little's-law ceiling)",
        "",
        markdown_table(*overview_rows(cells)),
        "",
        "## Every cell",
        "",
        markdown_table(*detail_rows(cells)),
        "",
    ]
    if any(c.get("model") for c in cells):
        parts += [
            "## Against the server's concurrency model",
            "",
            markdown_table(*model_rows(cells)),
            "",
        ]
    header, rows = upstream_rows(cells)
    if rows:
        parts += [
            "## The upstream (fan-out scenarios)",
            "",
            *findings.upstream_check(cells),
            "",
            markdown_table(header, rows),
            "",
        ]
    parts += prometheus_summary(record)
    issues = problems(cells, meta)
    if issues:
        parts += ["## Notes", "", *[f"- {line}" for line in issues], ""]
    parts += ["## Definitions", "", *[f"- **{term}**: {text}" for term, text in DEFINITIONS], ""]
    return "\n".join(parts)
