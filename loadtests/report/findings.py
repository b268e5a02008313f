"""The findings: what a sweep's numbers show, under the plots and tables they describe.

Each function reads the measured cells and chooses which sentences of ``templates/findings.j2``
apply, with the values they quote; nothing here measures or guesses beyond the cells. A
comparison states a ratio with its 95% interval (``analysis.comparisons``) and its verdict; an
explanation quotes the measurement beside it; the measurement checks (Little's law, warm-up,
server and client counts, the workers' shares) quote the figures they judge by.
"""

from __future__ import annotations

from itertools import groupby

from loadtests.analysis import littles
from loadtests.analysis.comparisons import MIN_RUNS, by_series, compare, find, label, measured
from loadtests.analysis.headroom import BINDS, headroom
from loadtests.analysis.records import Cell, LatencyMs
from loadtests.analysis.thresholds import (
    GENERATOR_SATURATED_PERCENT,
    REACHED_SHARE,
    UPSTREAM_BUSY_PERCENT,
)
from loadtests.scenarios import SLOTS
from mysite.servers import WSGI_KINDS

from .jinja import Sentences

say = Sentences("findings.j2")


def versus(a: Cell, b: Cell, a_name: str | None = None, b_name: str | None = None) -> str:
    """ "A against B: 1.02x (95% CI 0.97-1.07, not significant; 160 against 157 req/s)"."""
    r = compare(a, b)
    head = f"{a_name or label(a)} against {b_name or label(b)}"
    if r is None:
        return say.versus(head, f"{a.rps / b.rps:.2f}x", a.rps, b.rps, MIN_RUNS)
    return say.versus(head, r.text()[:-1], a.rps, b.rps, None)


def share_text(cell: Cell) -> str:
    """'97% of its ceiling (160 req/s, set by the users: 32 users / 0.2 s)', or ''."""
    room = headroom(cell)
    if room is None or room.share is None:
        return ""
    return say.share(room.share, room.ceiling_rps, BINDS[room.binds], room.arithmetic)


def _grouped(cells: list[Cell], key) -> list[list[Cell]]:
    """The cells by key, in the keys' order (each group in the cells' order)."""
    return [list(group) for _, group in groupby(sorted(cells, key=key), key)]


def pairs(cells: list[Cell], scenario: str, other: str) -> list[tuple[Cell, Cell]]:
    """Each measured cell of ``scenario``, with the cell of ``other`` on its server and workers."""
    return [
        (c, o)
        for c in measured(cells)
        if c.scenario == scenario and (o := find(cells, other, c.server, c.workers)) is not None
    ]


def sync_vs_async(cells: list[Cell]) -> list[str]:
    """The async and the sync view, per server kind and worker count."""
    parts, delays = [], set()
    by_place = sorted(
        pairs(cells, "async-api", "sync-api"), key=lambda p: (p[0].server, p[0].workers)
    )
    for cell, sync in by_place:
        if not sync.rps:
            continue
        delays |= {cell.delay_s, sync.delay_s}
        threads = sync.server_process.threads if sync.server_process else None
        mine = versus(cell, sync, f"{cell.server} x{cell.workers}: async", "sync")
        parts.append(say.sync_part(mine, threads, sync.model))
    if not parts:
        return []
    wait = delays.pop() if len(delays) == 1 and None not in delays else None
    return [say.sync_vs_async(wait, parts)]


def workers(cells: list[Cell]) -> list[str]:
    """Each scenario and server: the most workers against the fewest."""
    out = []
    for group in _grouped(measured(cells), lambda c: (c.scenario, c.server, c.db_pool_size or 0)):
        counts = sorted({c.workers for c in group})
        if len(counts) < 2:
            continue
        first = next(c for c in group if c.workers == counts[0])
        last = next(c for c in group if c.workers == counts[-1])
        room = headroom(first)
        share = room.share if room else None
        out.append(say.workers(versus(last, first), first, last, share))
    return out


def server_kinds(cells: list[Cell]) -> list[str]:
    """The same scenario and worker count under two server kinds."""
    out = []
    for group in _grouped(measured(cells), lambda c: (c.scenario, c.workers, c.db_pool_size or 0)):
        kinds = sorted({c.server for c in group})
        first = next(c for c in group if c.server == kinds[0])
        for kind in kinds[1:]:
            other = next(c for c in group if c.server == kind)
            out.append(say.server_kinds(versus(other, first), other, first))
    return out


def pools(cells: list[Cell]) -> list[str]:
    """A database path at its largest pool against its smallest (same server and workers)."""
    pooled = [c for c in measured(cells) if c.db_pool_size]
    out = []
    for group in _grouped(pooled, lambda c: (c.scenario, c.server, c.workers)):
        group.sort(key=lambda c: c.db_pool_size)
        first, last = group[0], group[-1]
        if first.db_pool_size != last.db_pool_size:
            out.append(say.pools(versus(last, first), last, first))
    return out


def repeated(cells: list[Cell]) -> list[str]:
    """A configuration measured twice (two cells): what the lab's noise alone looks like."""
    seen: dict[tuple[str, int, str, int], Cell] = {}
    out = []
    for cell in measured(cells):
        key = (cell.server, cell.workers, cell.scenario, cell.db_pool_size or 0)
        if key in seen:
            out.append(say.repeated(versus(cell, seen[key])))
        else:
            seen[key] = cell
    return out


def throughput(cells: list[Cell]) -> list[str]:
    """Worker counts, server kinds and pool sizes compared, and a configuration against itself."""
    return [*workers(cells), *server_kinds(cells), *pools(cells), *repeated(cells)]


def fanout(cells: list[Cell]) -> list[str]:
    """Each fan-out style against the sequential baseline, and the two transports."""
    out = []
    for base in measured(cells):
        if base.scenario != "sequential":
            continue
        parts = [
            versus(other, base, other.scenario, "sequential")
            for name in ("async-fanout", "async-fanout-httpx", "thread-fanout")
            if (other := find(cells, name, base.server, base.workers)) is not None
        ]
        if parts:
            out.append(say.fanouts(base, parts))
    for httpx, aio in pairs(cells, "async-fanout-httpx", "async-fanout"):
        calls = httpx.upstream.call_latency_ms if httpx.upstream else None
        cpu = httpx.server_process.cpu_percent if httpx.server_process else None
        call_p50 = calls.p50 if calls is not None else None
        said = versus(aio, httpx, "aiohttp's", "httpx's own")
        out.append(say.transports(said, call_p50, httpx.delay_s or 0, cpu))
    return out


def blocking(cells: list[Cell]) -> list[str]:
    """The blocking async view: one request at a time per worker (an ASGI server's)."""
    return [
        say.blocking(server, series)
        for (scenario, server), series in by_series(cells).items()
        if scenario == "async-blocking" and server not in WSGI_KINDS
    ]


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
    cell = gaps[-1][1]
    return [say.latency_gap(cell, gaps[len(gaps) // 2][0], len(gaps) == 1, _slots(cell))]


def _slots(cell: Cell) -> str:
    """What the cell's own figures say about where requests could wait."""
    if cell.model_rps and cell.service_time_s and cell.model_rps * cell.service_time_s < cell.users:
        return say.slots_held(cell.users, round(cell.model_rps * cell.service_time_s))
    if cell.server_process and cell.server_process.cpu_percent is not None:
        return say.server_cpu(cell.server_process.cpu_percent, cell.server_process.cores)
    return say.no_slots()


def shortfall(cell: Cell) -> str:
    """Why a cell stayed below its ceiling, as far as its own numbers tell."""
    why = [text for flag in cell.flags if (text := say.flag_reason(flag))]
    client, server = cell.latency_ms or LatencyMs(), cell.server_latency_ms or LatencyMs()
    service_ms = cell.service_time_s * 1000
    if server.p95 and server.p95 > 1.5 * service_ms:
        why.append(say.slow_django(server.p95, service_ms))
    if client.p95 and server.p95 and client.p95 - server.p95 > 0.5 * service_ms:
        spread = cell.worker_imbalance if cell.workers > 1 else None
        counts = cell.server_requests_by_worker or []
        why.append(say.waited_outside(client.p95, server.p95, counts, spread))
    return ", and ".join(why) or say.unexplained()


def _reached(cell: Cell) -> bool:
    """At the share of its ceiling, or the upper end of its interval is: noise cannot tell."""
    high = cell.rps_ci95[1] if cell.rps_ci95 else cell.rps
    return high >= REACHED_SHARE * headroom(cell).ceiling_rps


def efficiency(cells: list[Cell]) -> list[str]:
    """Each cell against its ceiling (the lower of the users' and the server's slots')."""
    done = [c for c in measured(cells) if (room := headroom(c)) and room.share is not None]
    if len(done) == 1:  # one cell: said of that cell
        (cell,) = done
        said = say.efficiency_one(
            cell, share_text(cell), _reached(cell), REACHED_SHARE, shortfall(cell)
        )
        return [said]
    if not done:
        return []
    reached = [c for c in done if _reached(c)]
    below = sorted((c for c in done if not _reached(c)), key=lambda c: headroom(c).share)[:5]
    slots = sum(headroom(c).binds == SLOTS for c in done)
    head = say.efficiency(len(reached), len(done), REACHED_SHARE, slots, len(below))
    return [head, *(say.below(c, share_text(c), shortfall(c)) for c in below)]


def generator_check(cells: list[Cell]) -> list[str]:
    cpus = [c.generator.cpu_percent for c in measured(cells) if c.generator]
    cpus = [c for c in cpus if c is not None]
    if not cpus:
        return []
    hot = [label(c) for c in measured(cells) if "generator-saturated" in c.flags]
    if hot:
        return [say.generator_hot(GENERATOR_SATURATED_PERCENT, hot)]
    return [say.generator_cool(max(cpus), GENERATOR_SATURATED_PERCENT, len(cpus) == 1)]


def upstream_check(cells: list[Cell]) -> list[str]:
    rows = [c for c in measured(cells) if c.upstream]
    cpus = [c.upstream.cpu_percent for c in rows if c.upstream.cpu_percent is not None]
    if not cpus:
        return []
    busy = [label(c) for c in rows if "upstream-busy" in c.flags]
    if busy:
        return [say.upstream_busy(UPSTREAM_BUSY_PERCENT, busy)]
    peak = max(rows, key=lambda c: c.upstream.cpu_percent or 0)
    window = sum(w.duration_s for w in peak.windows) or 1
    return [say.upstream_idle(max(cpus), (peak.upstream.calls or 0) / window, peak)]


def measurement_checks(cells: list[Cell]) -> list[str]:
    """Did each cell measure what it claims to: Little's law on its own data, warm-up by the
    steady rule, the server's and the client's counts of the same windows, the workers' shares."""
    done = measured(cells)
    said = []
    checked = [
        c
        for c in done
        if c.achieved_concurrency is not None and c.concurrency_tolerance is not None
    ]
    if checked:
        above = [c for c in checked if littles.FLAG in c.flags]
        shares = [littles.outside_share(c.users, c.achieved_concurrency) * 100 for c in checked]
        said.append(say.littles_law(checked, above, shares))
    ruled = [w.seconds for c in done for w in c.warmups or [] if w.steady is not None]
    if ruled:
        said.append(say.warmup(ruled, [label(c) for c in cells if "never-steady" in c.flags]))
    windows = [w for c in done for w in c.windows or []]
    pairs = [
        (w.server_requests, w.requests)
        for w in windows
        if w.server_requests is not None and w.read_s is not None
    ]
    if pairs:
        reads = [x * 1000 for w in windows for x in w.read_s or [] if x is not None]
        said.append(say.counts(len(pairs), reads, max(abs(s - r) for s, r in pairs)))
    return said + [
        say.imbalance(c)
        for c in done
        if c.workers > 1 and c.server_requests_by_worker and c.worker_imbalance is not None
    ]


def all_findings(cells: list[Cell]) -> list[str]:
    return [
        *sync_vs_async(cells),
        *throughput(cells),
        *fanout(cells),
        *blocking(cells),
        *latency_gap(cells),
        *efficiency(cells),
        *measurement_checks(cells),
        *generator_check(cells),
        *upstream_check(cells),
    ]
