"""What summary.md and report.html both say, as one typed record; the templates lay it out.

Every sentence and table is computed here once, from ``results.json``'s records alone; the two
templates (``templates/``) decide only where each goes and in which markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtests.analysis import findings
from loadtests.analysis.records import Cell, Results, RunMeta
from loadtests.analysis.thresholds import (
    GENERATOR_SATURATED_PERCENT,
    SERVER_CPU_BOUND_PERCENT,
    UPSTREAM_BUSY_PERCENT,
)
from loadtests.sweep.plan import UPSTREAM_POOL_SIZE

from .panels import PrometheusSummary, prometheus_summary
from .tables import (
    Table,
    _n,
    detail_rows,
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
        f"per-worker pool of {UPSTREAM_POOL_SIZE} upstream connections / fanout for the "
        "fan-outs.",
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
        f"passed {GENERATOR_SATURATED_PERCENT:.0f}% of a core; server-cpu-bound: the server used "
        f"over {SERVER_CPU_BOUND_PERCENT:.0f}% of its cores; upstream-busy: the upstream passed "
        f"{UPSTREAM_BUSY_PERCENT:.0f}% of its one core; workers-not-ready: not every worker "
        "answered before the load began; error: the cell could not be measured.",
    ),
]


def describe_run(meta: RunMeta) -> list[str]:
    machine, versions = meta.machine, meta.versions
    params = meta.parameters
    git = meta.git
    commit = (git.commit or "unknown")[:10] + (" (uncommitted changes)" if git.dirty else "")
    lines = [
        f"Run `{meta.run_id}`, profile `{meta.profile}`, status "
        f"**{meta.status}**: {meta.started_at} to "
        f"{meta.ended_at or '?'} ({_n(meta.duration_s)} s). "
        f"Command: `{meta.command}`.",
        f"Machine: {machine.cpu_model}, {machine.cpu_count} CPU(s) "
        f"({machine.cpus_available} available), {machine.memory_gb} GB, "
        f"{machine.platform}; Python {machine.python}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + f"; git {commit}.",
        f"Load: {params.users} closed-loop Locust users per cell, delay "
        f"{params.delay} s, fan-out {params.fanout}, gunicorn gthread "
        f"threads {params.threads}; warm-up at least {params.warmup} s, "
        f"then {params.repeats} x {params.window} s windows "
        f"({'a fresh server for each' if params.restart_per_repeat else 'back to back'}); "
        f"connections: {meta.connections}; generator: "
        f"{meta.generator.mode}.",
        f"Pinning: {meta.pinning}. Target: {meta.target}.",
    ]
    return lines


def problems(cells: list[Cell], meta: RunMeta) -> list[str]:
    lines = [f"{c.server} x{c.workers} {c.scenario}: {c.error}" for c in cells if c.error]
    if meta.skipped_cells:
        lines.append("Not measured: " + ", ".join(meta.skipped_cells))
    lines += meta.notes
    return lines


@dataclass(frozen=True)
class Sections:
    title: str
    run: list[str]
    findings: list[str]
    overview: Table
    detail: Table
    model: Table | None
    upstream: Table | None
    upstream_sentences: list[str]
    prometheus: PrometheusSummary | None
    notes: list[str]
    definitions: list[tuple[str, str]]


def sections(record: Results) -> Sections:
    meta, cells = record.meta, record.cells
    upstream = upstream_rows(cells)
    return Sections(
        title=f"Django async lab, {meta.run_id}",
        run=describe_run(meta),
        findings=findings.all_findings(cells),
        overview=overview_rows(cells),
        detail=detail_rows(cells),
        model=model_rows(cells) if any(c.model for c in cells) else None,
        upstream=upstream if upstream[1] else None,
        upstream_sentences=findings.upstream_check(cells),
        prometheus=prometheus_summary(record),
        notes=problems(cells, meta),
        definitions=DEFINITIONS,
    )
