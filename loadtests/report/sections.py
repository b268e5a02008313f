"""What summary.md and report.html both say, as one typed record; the templates lay it out.

Every sentence and table is computed here once, from ``results.json``'s records alone; the two
templates (``templates/``) decide only where each goes and in which markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtests.analysis import littles, stats, steady
from loadtests.analysis.comparisons import measured
from loadtests.analysis.records import Cell, RunMeta
from loadtests.analysis.results import Results
from loadtests.analysis.thresholds import (
    GENERATOR_SATURATED_PERCENT,
    SERVER_CPU_BOUND_PERCENT,
    UPSTREAM_BUSY_PERCENT,
)
from loadtests.sweep.plan import UPSTREAM_POOL_SIZE

from . import findings
from .panels import PrometheusSummary, prometheus_summary
from .tables import (
    Table,
    _n,
    ceiling_rows,
    detail_rows,
    interval_rows,
    overview_rows,
    upstream_rows,
)

CEILING_TERM = "Ceiling, and 'of ceiling'"  # the one headroom notion the tables use

DEFINITIONS = [
    (
        "Closed loop",
        "Every Locust user sends its next request as soon as the last one is answered (no "
        "think time), so the users are the requests in flight. Each request opens a new "
        "connection unless the run says keep-alive.",
    ),
    (
        CEILING_TERM,
        "The most a cell can serve when every request takes only its service time: the lower "
        "of two ceilings, and the tables name the one that binds. The users' ceiling is users / "
        "service time (Little's law: a closed loop of that many users sends no more); the slots' "
        "is slots / service time, where slots are the requests the server can hold at once: "
        "workers x threads for gunicorn gthread (any view); none for an ASGI worker's async "
        "views and for its sync views (Django runs each in a thread of its own), so there the "
        "users bind; one per worker for the blocking async view, which stalls the event loop; "
        f"and the per-worker pool of {UPSTREAM_POOL_SIZE} upstream connections / fanout for the "
        "fan-outs. The "
        "service time is `delay` for the sleep views and for the concurrent fan-outs (their "
        "calls overlap, so a request waits one upstream `delay`), and `fanout x delay` for the "
        "sequential baseline. of ceiling = measured req/s / the lower ceiling; the ceilings "
        "table gives each cell's arithmetic, with the users' ceiling beside it.",
    ),
    (
        "Client and server latency",
        "Client: Locust's response times in the measured windows. Server: percentiles "
        "interpolated in the app's own `http_server_request_duration_seconds` histogram, from "
        "the difference of two snapshots at the windows' edges (read from the workers' metric "
        "files; runs before schema 3 scraped /metrics) with boundaries set just above the "
        "scenario's service time. The gap is time outside Django: the accept queue, a "
        "busy gunicorn thread, a blocked event loop, the network stack, Locust itself.",
    ),
    (
        "Coordinated omission",
        "Every latency here comes from a closed loop: a user waits for each answer before it "
        "sends the next request, so while the server stalls the users send nothing, and the "
        "requests they would have sent (and their waits) are never measured. The percentiles "
        "are those of the requests that were sent, not what users arriving on their own "
        "schedule would see: a stall of the server shows as a few slow requests, not as the "
        "many that would have queued behind it. The open model (arrivals at a fixed rate) is "
        "free of it.",
    ),
    (
        "Users, warm-up and windows",
        "Users are spawned over one service time and each waits a random part of one more "
        "before its first request, so they do not move in lockstep; then "
        + steady.rule_text()
        + ". A window's requests are counted in shares, each spread over the windows its time "
        "spans (users who bunch after a stall would otherwise move whole requests across an "
        "edge); req/s is the mean of the windows, min-max their spread; percentiles pool every "
        "window's raw response times (to 0.1 ms: exact, not Locust's rounded buckets).",
    ),
    (
        "Repeats and 95% intervals",
        "A cell's repeats (runs) are fresh server and Locust starts, in interleaved order across "
        "the cells (A B C A B C), so a shared machine's drift falls on every cell alike. The "
        "run is the independent unit: runs carry start-up luck (how connections spread over "
        "workers, what else the machine did), windows a run's own noise. req/s's interval is "
        "Student's t over the runs' mean rates, which widens as few runs demand; a "
        "percentile's is the wider of Student's t over the runs' own percentiles (centred on "
        f"the pooled one) and a percentile bootstrap ({stats.RESAMPLES} resamples) over runs, "
        "then over windows inside each chosen run. A cell of one run has only the bootstrap "
        "over its windows: its run's noise, not the luck between runs. A "
        "ratio between two cells is judged on the runs' mean rates with Student's t (Welch's "
        "degrees of freedom, on the log scale), which widens as few runs demand; 'not "
        "significant' means its interval holds 1, and cells with fewer than two runs get no "
        "verdict.",
    ),
    (
        "Little's law check",
        "Measured concurrency = req/s x mean client latency: a closed loop can never hold more "
        "requests in flight than it has users. The tolerance is three standard errors of that "
        "estimate from the cell's own data, Z x users x sqrt((users/4 + n cv^2)/n^2 + cv^2/n) "
        f"with Z = {littles.Z:g}, n the requests and cv their latencies' coefficient of "
        "variation (each staggered user's phase at the window's edges, and the spread of "
        "latencies); above it the cell is flagged concurrency-above-users (users in lockstep, "
        "whose waves a window cuts unevenly, or edges that disagree). Below users, the users "
        "spent that share of their time between requests.",
    ),
    (
        "Server windows",
        "At each window's edge the sweep reads every server worker's metric files (prometheus_"
        "client's multi-process files, one set per process) at the instant Locust switches "
        "windows, without asking the loaded server, so server and client count the same seconds; "
        "the per-process files give each worker's requests. A server percentile is interpolated "
        "inside its histogram bucket and rounded to the digits that bucket's width allows; where "
        "the bucket is wider than 1 ms the table gives its bounds.",
    ),
    (
        "Flags",
        "failures: some requests failed their checks; generator-saturated: a Locust process "
        f"passed {GENERATOR_SATURATED_PERCENT:.0f}% of a core; server-cpu-bound: the server used "
        f"over {SERVER_CPU_BOUND_PERCENT:.0f}% of its cores; upstream-busy: the upstream passed "
        f"{UPSTREAM_BUSY_PERCENT:.0f}% of its one core; workers-not-ready: not every worker "
        "answered before the load began; never-steady: a run had not settled by the steady rule's "
        f"cap of {steady.STEADY_CAP_S:g} s; {littles.FLAG}: Little's law failed (see its check); "
        "error: the cell could not be measured.",
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
        + (
            f"then until steady; {params.repeats} fresh runs per cell, interleaved, of "
            f"{params.windows_per_run} windows of at least {params.window} s; "
            if params.windows_per_run
            else f"then {params.repeats} x {params.window} s windows "
            f"({'a fresh server for each' if params.restart_per_repeat else 'back to back'}); "
        )
        + f"connections: {meta.connections}; generator: "
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


GAP_NOTE = "Server above client:"  # opens each note, so a reader (and a test) can find them


def percentile_gaps(cells: list[Cell]) -> list[str]:
    """Where a server percentile exceeds the client's (which it cannot truly do), why."""
    said = []
    for c in measured(cells):
        client, server = c.latency_ms, c.server_latency_ms
        if client is None or server is None:
            continue
        for key in ("p50", "p95", "p99"):
            mine, theirs = getattr(server, key), getattr(client, key)
            if mine is None or theirs is None or mine <= theirs:
                continue
            bucket = getattr(server, f"{key}_bucket")
            within = (
                f"its histogram bucket [{_n(bucket[0])}, {_n(bucket[1])}] ms"
                if bucket and bucket[1] is not None
                else "a histogram bucket (this run did not store the bucket's bounds)"
            )
            said.append(
                f"{GAP_NOTE} {c.scenario} on {c.server} x{c.workers}: the server's {key} "
                f"({_n(mine)} ms) is above the client's ({_n(theirs)} ms), which every "
                f"request's own timings rule out: the server's figure is interpolated within "
                f"{within}, so it says only that the true {key} lies in that bucket, while the "
                "client's is exact to 0.1 ms."
            )
    return said


@dataclass(frozen=True)
class Sections:
    title: str
    run: list[str]
    findings: list[str]
    overview: Table
    detail: Table
    percentile_gaps: list[str]
    intervals: Table | None
    ceilings: Table
    upstream: Table | None
    upstream_sentences: list[str]
    prometheus: PrometheusSummary | None
    notes: list[str]
    definitions: list[tuple[str, str]]


def sections(record: Results) -> Sections:
    meta, cells = record.meta, record.cells
    upstream = upstream_rows(cells)
    intervals = interval_rows(cells)
    return Sections(
        title=f"Django async lab, {meta.run_id}",
        run=describe_run(meta),
        findings=findings.all_findings(cells),
        overview=overview_rows(cells),
        detail=detail_rows(cells),
        percentile_gaps=percentile_gaps(cells),
        intervals=intervals if intervals[1] else None,
        ceilings=ceiling_rows(cells),
        upstream=upstream if upstream[1] else None,
        upstream_sentences=findings.upstream_check(cells),
        prometheus=prometheus_summary(record),
        notes=problems(cells, meta),
        definitions=DEFINITIONS,
    )
