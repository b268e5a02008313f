"""Sentences that say what a sweep's numbers show, generated from ``results.json`` cells.

Each function reads measured cells (those with a rate) and returns zero or more plain
sentences; the report puts them under the plots and tables they describe. Nothing here
measures or guesses beyond the cells: a sentence names the cells whose numbers it quotes, and
where it offers an explanation it quotes the measurement beside it. Comparisons between cells
(with their intervals and verdicts) are ``comparisons``'s.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from loadtests.analysis.records import Cell, LatencyMs
from loadtests.scenarios import SLOTS
from mysite.servers import WSGI_KINDS

from . import comparisons, measurement
from .headroom import BINDS, headroom
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
    return comparisons.rate(value)


def share_text(cell: Cell) -> str:
    """'97% of its ceiling (160 req/s, set by the users: 32 users / 0.2 s)', or ''."""
    room = headroom(cell)
    if room is None or room.share is None:
        return ""
    return (
        f"{room.share:.0%} of its ceiling ({_rps(room.ceiling_rps)} req/s, set by "
        f"{BINDS[room.binds]}: {room.arithmetic})"
    )


def throughput(cells: list[Cell]) -> list[str]:
    """Worker counts, server kinds and pool sizes compared, and a configuration against
    itself."""
    return [
        *comparisons.workers(cells),
        *comparisons.server_kinds(cells),
        *comparisons.pools(cells),
        *comparisons.repeated(cells),
    ]


def sync_vs_async(cells: list[Cell]) -> list[str]:
    return comparisons.sync_vs_async(cells)


def fanout(cells: list[Cell]) -> list[str]:
    return comparisons.fanouts(cells)


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
            f"about one request per {delay:g} s per worker (its ceiling: "
            f"{', '.join(_rps(c.model_rps) for c in series)}, one request at a time per "
            f"worker), whatever the {series[0].users} users."
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
    if len(gaps) == 1:  # one cell: no "across cells"
        return [
            f"In {label(cell)} the client's median exceeds the server's by {median_gap:.0f} ms: "
            f"{cell.latency_ms.p50:.0f} ms seen by Locust against "
            f"{cell.server_latency_ms.p50:.0f} ms inside Django, time spent outside Django "
            f"({_slots(cell)})."
        ]
    return [
        f"Across cells the client's median exceeds the server's by {median_gap:.0f} ms at the "
        f"median cell; the widest gap is {label(cell)}: {cell.latency_ms.p50:.0f} ms seen "
        f"by Locust against {cell.server_latency_ms.p50:.0f} ms inside Django, time spent "
        f"outside Django ({_slots(cell)})."
    ]


def _slots(cell: Cell) -> str:
    """What the cell's own figures say about where requests could wait."""
    if cell.model_rps and cell.service_time_s and cell.model_rps * cell.service_time_s < cell.users:
        held = round(cell.model_rps * cell.service_time_s)
        return f"{cell.users} users for the {held} request(s) the server's slots hold at once"
    cpu = cell.server_process.cpu_percent if cell.server_process else None
    cores = cell.server_process.cores if cell.server_process else None
    if cpu is not None:
        return f"the server used {cpu:.0f}% of one core" + (
            f", with {cores} core(s) to use" if cores else ""
        )
    return "no measurement of this cell says where"


REASONS = {
    "server-cpu-bound": "the server used all the CPU it had",
    "generator-saturated": "Locust itself ran out of CPU",
    "upstream-busy": "the upstream was busy",
    "failures": "requests failed",
}


def shortfall(cell: Cell) -> str:
    """Why a cell stayed below its ceiling, as far as its own numbers tell."""
    why = [REASONS[f] for f in cell.flags if f in REASONS]
    client, server = cell.latency_ms or LatencyMs(), cell.server_latency_ms or LatencyMs()
    service_ms = cell.service_time_s * 1000
    if server.p95 and server.p95 > 1.5 * service_ms:
        why.append(
            f"Django itself took {server.p95:.0f} ms at p95 for {service_ms:.0f} ms of waiting"
        )
    if client.p95 and server.p95 and client.p95 - server.p95 > 0.5 * service_ms:
        gap = f"(client p95 {client.p95:.0f} ms, {server.p95:.0f} ms inside Django)"
        if cell.worker_imbalance is not None and cell.workers > 1:
            counts = ", ".join(str(n) for n in cell.server_requests_by_worker or [])
            why.append(
                f"requests waited outside Django {gap}, while the workers served {counts} "
                f"requests (busiest / mean {cell.worker_imbalance:.2f})"
            )
        else:
            why.append(f"requests waited outside Django {gap}")
    return ", and ".join(why) or "nothing this cell measured explains it (no flag, no queue)"


def _reached(cell: Cell) -> bool:
    """At the share of its ceiling, or the upper end of its interval is: noise cannot tell."""
    high = cell.rps_ci95[1] if cell.rps_ci95 else cell.rps
    return high >= REACHED_SHARE * headroom(cell).ceiling_rps


def efficiency(cells: list[Cell]) -> list[str]:
    """Each cell against its ceiling (the lower of the users' and the server's slots')."""
    done = [c for c in measured(cells) if (room := headroom(c)) and room.share is not None]
    if not done:
        return []
    reached = [c for c in done if _reached(c)]
    below = sorted((c for c in done if not _reached(c)), key=lambda c: headroom(c).share)
    if len(done) == 1:  # one cell: said of that cell
        cell = done[0]
        verdict = (
            f"it reached it ({REACHED_SHARE:.0%} or more, within its 95% interval where it has one)"
            if reached
            else f"below the {REACHED_SHARE:.0%} that counts as reaching it: {shortfall(cell)}"
        )
        return [f"{label(cell)} served {share_text(cell)}; {verdict}."]
    slots = sum(headroom(c).binds == SLOTS for c in done)
    sentences = [
        f"{len(reached)} of {len(done)} cells reached {REACHED_SHARE:.0%} of their ceiling "
        "(within their 95% interval, where they have one), the lower of the users' and the "
        f"server's slots' (the slots set it in {slots} of them)"
        + (f"; the {min(5, len(below))} furthest below it follow." if below else ".")
    ]
    sentences += [f"{label(c)} served {share_text(c)}: {shortfall(c)}." for c in below[:5]]
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
    which = "this cell" if len(cpus) == 1 else "any cell"
    return [
        f"The load generator never passed {max(cpus):.0f}% of a core (flagged above "
        f"{GENERATOR_SATURATED_PERCENT:.0f}%), so it was not what limited {which}."
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
        *sync_vs_async(cells),
        *throughput(cells),
        *fanout(cells),
        *blocking(cells),
        *latency_gap(cells),
        *efficiency(cells),
        *measurement.checks(cells),
        *generator_check(cells),
        *upstream_check(cells),
    ]
