"""Sentences that say what a sweep's numbers show, generated from ``results.json`` cells.

Each function reads measured cells (those with a rate) and returns zero or more plain
sentences; the report puts them under the plots and tables they describe. Nothing here
measures or guesses beyond the cells: a sentence names the cells whose numbers it quotes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from loadtests.analysis.records import Cell, LatencyMs, UpstreamUse
from loadtests.scenarios import SCENARIOS
from mysite.servers import WSGI_KINDS

from .thresholds import GENERATOR_SATURATED_PERCENT, REACHED_SHARE, UPSTREAM_BUSY_PERCENT


def measured(cells: Iterable[Cell]) -> list[Cell]:
    return [c for c in cells if c.rps is not None and not c.error]


def label(cell: Cell) -> str:
    workers = cell.workers
    where = cell.server if not workers else f"{cell.server} x{workers}"
    return f"{cell.scenario} on {where}"


def by_series(cells: Iterable[Cell]) -> dict[tuple[str, str], list[Cell]]:
    """Cells per (scenario, server), sorted by worker count."""
    series: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    for cell in measured(cells):
        series[(cell.scenario, cell.server)].append(cell)
    return {k: sorted(v, key=lambda c: c.workers) for k, v in series.items()}


def find(cells, scenario: str, server: str, workers: int) -> Cell | None:
    for cell in measured(cells):
        if (cell.scenario, cell.server, cell.workers) == (scenario, server, workers):
            return cell
    return None


def _rps(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def throughput(cells: list[Cell]) -> list[str]:
    """How throughput followed the worker count, and against which ceiling."""
    sentences = []
    scaled = []
    for (scenario, server), series in by_series(cells).items():
        if len(series) < 2:
            continue
        first, last = series[0], series[-1]
        if first.rps > 0:
            scaled.append((last.rps / first.rps, scenario, server, first, last))
    if not scaled:
        return sentences
    scaled.sort(key=lambda item: -item[0])
    grew = [s for s in scaled if s[0] >= 1.5]
    if grew:
        parts = [
            f"{scenario} on {server} {_rps(first.rps)} to {_rps(last.rps)} req/s "
            f"({factor:.1f}x; model: {last.model or 'n/a'})"
            for factor, scenario, server, first, last in grew
        ]
        sentences.append(
            "More workers raised throughput where the server, not the users, held the "
            f"requests back, from {grew[0][3].workers} to {grew[0][4].workers} workers: "
            + "; ".join(parts)
            + "."
        )
    flat = [
        s for s in scaled if s[0] < 1.3 and s[4].efficiency and s[4].efficiency >= REACHED_SHARE
    ]
    if flat:
        names = ", ".join(f"{s[1]} on {s[2]}" for s in flat[:4])
        users = flat[0][4].users
        sentences.append(
            f"More workers changed little for {names}: one worker already carries the "
            f"{users} users to within {1 - REACHED_SHARE:.0%} of the Little's-law ceiling, so "
            "the users, not the server, set the rate."
        )
    return sentences


def sync_vs_async(cells: list[Cell]) -> list[str]:
    """The simple sync and async views side by side, per server kind, at the fewest workers."""
    parts, delays = [], set()
    for (scenario, server), series in sorted(by_series(cells).items()):
        if scenario != "async-api":
            continue
        first = series[0]
        sync = find(cells, "sync-api", server, first.workers)
        if sync is None or not sync.rps:
            continue
        ratio = first.rps / sync.rps
        parts.append(f"{server} x{first.workers}: {ratio:.2f}x")
        delays |= {first.delay_s, sync.delay_s}
    if not parts:
        return []
    wait = f"{delays.pop():g} s " if len(delays) == 1 and None not in delays else ""
    return [
        f"async-api against sync-api (the same {wait}wait, awaited or slept): "
        + "; ".join(parts)
        + ". Under ASGI Django gives each sync view a thread of its own, so a sleeping sync "
        "view scales like an async one until threads cost CPU; under WSGI both hold a "
        "gunicorn thread."
    ]


def fanout(cells: list[Cell]) -> list[str]:
    sentences = []
    for server in sorted({c.server for c in measured(cells)}):
        for workers in sorted({c.workers for c in measured(cells) if c.server == server}):
            baseline = find(cells, "sequential", server, workers)
            if baseline is None or not baseline.rps:
                continue
            parts = []
            for name in ("async-fanout", "async-fanout-httpx", "thread-fanout"):
                other = find(cells, name, server, workers)
                if other is not None:
                    parts.append(
                        f"{name} {_rps(other.rps)} req/s ({other.rps / baseline.rps:.1f}x)"
                    )
            if parts:
                sentences.append(
                    f"On {server} x{workers}, against the sequential baseline's "
                    f"{_rps(baseline.rps)} req/s: " + ", ".join(parts) + "."
                )
    httpx_cell = next((c for c in measured(cells) if c.scenario == "async-fanout-httpx"), None)
    if httpx_cell is not None:
        aio = find(cells, "async-fanout", httpx_cell.server, httpx_cell.workers)
        if aio is not None and aio.rps > 1.5 * httpx_cell.rps:
            calls = (httpx_cell.upstream or UpstreamUse()).call_latency_ms or LatencyMs()
            sentences.append(
                f"The same async fan-out through httpx's own transport reached only "
                f"{_rps(httpx_cell.rps)} req/s against {_rps(aio.rps)} through aiohttp's"
                + (
                    f", its upstream calls taking {calls.p50:.0f} ms at the median for a "
                    f"{httpx_cell.delay_s * 1000:.0f} ms delay: they queue in the client's "
                    "connection pool, not at the upstream."
                    if calls.p50
                    else "."
                )
            )
    return sentences


def blocking(cells: list[Cell]) -> list[str]:
    sentences = []
    for (scenario, server), series in by_series(cells).items():
        if scenario != "async-blocking" or server in WSGI_KINDS:
            continue
        rates = ", ".join(f"{_rps(c.rps)}" for c in series)
        counts = ", ".join(str(c.workers) for c in series)
        delay = series[0].delay_s
        sentences.append(
            f"The blocking async view on {server} served {rates} req/s with {counts} worker(s): "
            f"about one request per {delay:g} s per worker (the model says "
            f"{', '.join(_rps(c.model_rps) for c in series)}), whatever the "
            f"{series[0].users} users: time.sleep stalls the worker's whole event loop."
        )
    return sentences


def latency_gap(cells: list[Cell]) -> list[str]:
    """Client minus server median latency: time spent queued before Django saw a request."""
    gaps = []
    for cell in measured(cells):
        client, server = cell.latency_ms or LatencyMs(), cell.server_latency_ms or LatencyMs()
        if client.p50 is not None and server.p50 is not None:
            gaps.append((client.p50 - server.p50, cell))
    if not gaps:
        return []
    gaps.sort(key=lambda g: g[0])
    median_gap = gaps[len(gaps) // 2][0]
    cell = gaps[-1][1]
    why = (
        "requests wait for a free gunicorn thread before Django sees them"
        if cell.server in WSGI_KINDS
        else "requests wait while the worker's event loop is blocked"
        if SCENARIOS.get(cell.scenario) and SCENARIOS[cell.scenario].view == "async-blocking"
        else "requests wait in the server's queues before Django's middleware starts its clock"
    )
    return [
        f"Across cells the client's median exceeds the server's by {median_gap:.0f} ms at the "
        f"median cell; the widest gap is {label(cell)}: {cell.latency_ms.p50:.0f} ms seen "
        f"by Locust against {cell.server_latency_ms.p50:.0f} ms inside Django, because "
        f"{why}."
    ]


REASONS = {
    "server-cpu-bound": "the server used all the CPU it had",
    "generator-saturated": "Locust itself ran out of CPU",
    "upstream-busy": "the upstream was busy",
    "failures": "requests failed",
}


def shortfall(cell: Cell) -> str:
    """Why a cell stayed below its model's ceiling, as far as its own numbers tell."""
    why = [REASONS[f] for f in cell.flags if f in REASONS]
    client, server = cell.latency_ms or LatencyMs(), cell.server_latency_ms or LatencyMs()
    service_ms = cell.service_time_s * 1000
    if server.p95 and server.p95 > 1.5 * service_ms:
        why.append(
            f"Django itself took {server.p95:.0f} ms at p95 for {service_ms:.0f} ms of waiting"
        )
    if client.p95 and server.p95 and client.p95 - server.p95 > 0.5 * service_ms:
        gap = f"(client p95 {client.p95:.0f} ms, {server.p95:.0f} ms inside Django)"
        if cell.server in WSGI_KINDS and cell.workers > 1:
            why.append(
                "threads sat idle in some workers while requests queued in others, since a "
                f"gthread worker accepts connections whether or not it has a free thread {gap}"
            )
        elif cell.model_rps >= 0.99 * cell.littles_law_rps:
            why.append(f"requests queued before Django although the model has room {gap}")
    return ", and ".join(why) or "nothing this cell measured explains it (no flag, no queue)"


def efficiency(cells: list[Cell]) -> list[str]:
    done = [c for c in measured(cells) if c.model_efficiency is not None]
    if not done:
        return []
    reached = [c for c in done if c.model_efficiency >= REACHED_SHARE]
    below = sorted(
        (c for c in done if c.model_efficiency < REACHED_SHARE), key=lambda c: c.model_efficiency
    )
    sentences = [
        f"{len(reached)} of {len(done)} cells reached {REACHED_SHARE:.0%} of the ceiling their "
        "server's concurrency model predicts"
        + (f"; the {min(5, len(below))} furthest below it follow." if below else ".")
    ]
    sentences += [
        f"{label(c)} reached {c.model_efficiency:.0%} of its model's "
        f"{_rps(c.model_rps)} req/s: {shortfall(c)}."
        for c in below[:5]
    ]
    return sentences


def generator_check(cells: list[Cell]) -> list[str]:
    cpus = [c.generator.cpu_percent for c in measured(cells) if c.generator]
    cpus = [c for c in cpus if c is not None]
    if not cpus:
        return []
    hot = [label(c) for c in measured(cells) if "generator-saturated" in c.flags]
    if hot:
        return [
            f"Locust passed {GENERATOR_SATURATED_PERCENT:.0f}% of a core in {', '.join(hot)}: "
            "those cells measure the load generator as much as the server."
        ]
    return [
        f"The load generator never passed {max(cpus):.0f}% of a core (flagged above "
        f"{GENERATOR_SATURATED_PERCENT:.0f}%), so it was not what limited any cell."
    ]


def upstream_check(cells: list[Cell]) -> list[str]:
    rows = [c for c in measured(cells) if c.upstream]
    cpus = [c.upstream.cpu_percent for c in rows if c.upstream.cpu_percent is not None]
    if not cpus:
        return []
    busy = [label(c) for c in rows if "upstream-busy" in c.flags]
    peak = max(rows, key=lambda c: c.upstream.cpu_percent or 0)
    calls = peak.upstream.calls or 0
    window = sum(w.duration_s for w in peak.windows) or 1
    if busy:
        return [
            f"The upstream was busy (above {UPSTREAM_BUSY_PERCENT:.0f}% of its one core) in "
            f"{', '.join(busy)}."
        ]
    return [
        f"The upstream never used more than {max(cpus):.0f}% of its one core (at most "
        f"{calls / window:.0f} calls/s, in {label(peak)}): it was never the bottleneck."
    ]


def all_findings(cells: list[Cell]) -> list[str]:
    return [
        *throughput(cells),
        *sync_vs_async(cells),
        *fanout(cells),
        *blocking(cells),
        *latency_gap(cells),
        *efficiency(cells),
        *generator_check(cells),
        *upstream_check(cells),
    ]
