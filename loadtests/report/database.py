"""The report's database section: the three database paths side by side, paired on one server
(``db_comparison``, rendered by ``report.db_comparison``), then their closed-loop cells
(``--scenarios sync-db``, ``--profile full``: per path, server, workers and pool size, compared
where they share the rest by Welch's interval over fresh runs), then in the capacity map.

From ``results.json``'s ``capacity`` entries of the database scenarios (``DB_SCENARIOS``) alone:
per path and pool size, λ* (with its CI over fresh repeats where they exist), the latency at the
highest rate that held, the limit that binds, and the server's threads there against its idle
count; generated sentences compare the paths of one configuration ("not significant" where the
CIs overlap, "no CI" where each path was searched once) and name what was not mapped and why.
Every sentence is generated from the values.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

from loadtests.analysis.capacity import POOL, CapacityEntry, CapacityStep
from loadtests.analysis.comparisons import measured
from loadtests.analysis.records import Cell
from loadtests.analysis.results import Results
from loadtests.scenarios import DB_SCENARIOS

from . import db_comparison
from .findings import versus
from .jinja import ENV, Sentences
from .tables import Part, Table, interval, number, table, unless

say, say_capacity = Sentences("database.j2"), Sentences("capacity.j2")

TITLE = "Database: sync ORM, async ORM and the native async backend"
CELLS_TITLE = "Closed loop (the database paths' cells)"
CAPACITY_TITLE = "At capacity (the capacity map's searches)"
PATH_ORDER = tuple(DB_SCENARIOS)
# A path "reaches" its pool ceiling when λ* comes this close (Poisson arrivals queue just below).
NEAR_CEILING = 0.8
CI_ROUNDING = 0.1  # results.json keeps λ*'s CI to 0.1 req/s (analysis.lambda_star.combine)


def entries_of(record: Results) -> list[CapacityEntry]:
    mine = [e for e in record.capacity if e.scenario in DB_SCENARIOS]
    return sorted(mine, key=lambda e: (_config(e), PATH_ORDER.index(e.scenario)))


def _config(e: CapacityEntry) -> tuple:
    return (e.server, e.workers, e.threads, e.db_pool_size, e.variant)


def _where(e: CapacityEntry) -> str:
    threads = f", {e.threads} threads" if "gthread" in e.server or "wsgi" in e.server else ""
    return f"{e.server} x{e.workers}{threads}, pool {e.db_pool_size}"


def top_step(e: CapacityEntry) -> CapacityStep | None:
    """The highest offered rate that held (the search's λ* step in its first repeat)."""
    held = [s for s in e.steps if s.verdict == "held"]
    return max(held, key=lambda s: s.offered_rps) if held else None


# --- the closed loop: the database paths' cells, compared where they share the rest


def cells_of(record: Results) -> list[Cell]:
    mine = [c for c in measured(record.cells) if c.scenario in DB_SCENARIOS]
    return sorted(
        mine, key=lambda c: (c.server, c.workers, c.db_pool_size or 0, PATH_ORDER.index(c.scenario))
    )


def _p50_p99(lat) -> str:
    return f"{number(lat.p50 if lat else None)} / {number(lat.p99 if lat else None)}"


CELLS = (
    ("path", lambda c: c.scenario),
    ("server", lambda c: c.server),
    ("workers", lambda c: str(c.workers)),
    ("pool", lambda c: number(c.db_pool_size)),
    ("users", lambda c: str(c.users)),
    ("req/s", lambda c: number(c.rps, 1)),
    ("95% CI", lambda c: interval(c.rps_ci95, 1, "{}-{}")),
    ("model ceiling", lambda c: number(c.model_rps, 1)),
    ("of model", lambda c: f"{c.model_efficiency:.0%}" if c.model_efficiency is not None else "-"),
    ("p50 / p99 ms", lambda c: _p50_p99(c.latency_ms)),
    ("server CPU %", lambda c: number(c.server_process.cpu_percent if c.server_process else None)),
    ("failures", lambda c: str(c.failures)),
)


def cell_rows(cells: list[Cell]) -> Table:
    return table(CELLS, cells)


def cell_sentences(cells: list[Cell]) -> list[str]:
    groups: dict[tuple, list[Cell]] = defaultdict(list)
    for c in cells:
        groups[(c.server, c.workers, c.db_pool_size)].append(c)
    said = []
    for group in groups.values():
        said += [versus(b, a) + "." for a, b in combinations(group, 2)]
    return said


# --- at capacity: the paths' searches


def in_flight(step: CapacityStep) -> float | None:
    """Requests in flight at a step, by Little's law from its rate and its median latency."""
    p50 = (step.send_latency_ms and step.send_latency_ms.p50) or step.latency_ms.p50
    return step.achieved_rps * p50 / 1000.0 if p50 else None


def threads_per_request(e: CapacityEntry) -> tuple[int | None, float | None]:
    """(threads above idle at the top held step, those threads per request in flight)."""
    step = top_step(e)
    if step is None or step.server_threads is None or e.idle_threads is None:
        return None, None
    extra = step.server_threads - e.idle_threads
    flight = in_flight(step)
    return extra, (extra / flight if flight else None)


def _mapped(read):
    """A column that an entry not mapped (not applicable, or failed) leaves at '-'."""
    return unless(lambda e: e.skipped or e.error, read)


def _latency_or_why(e: CapacityEntry) -> str:
    if e.skipped or e.error:
        return f"not applicable: {e.skipped}" if e.skipped else f"failed: {e.error[:80]}"
    step = top_step(e)
    return _p50_p99(step.latency_ms) if step else "-"


def _at_top(e: CapacityEntry, read, digits: int = 0) -> str:
    step = top_step(e)
    return number(read(step) if step else None, digits)


PATHS = (
    ("path", lambda e: e.scenario),
    ("configuration", _where),
    ("λ* req/s", _mapped(lambda e: number(e.lambda_star_rps, 1))),
    ("λ* CI95", _mapped(lambda e: interval(e.lambda_star_ci95))),
    ("p50 / p99 ms at λ*", _latency_or_why),
    ("pool ceiling", _mapped(lambda e: number(e.limit.model_rps))),
    ("CPU ceiling", _mapped(lambda e: number(e.limit.cpu_rps))),
    ("binds", _mapped(lambda e: e.limit.binds or "-")),
    (
        "threads idle / at λ*",
        _mapped(lambda e: f"{number(e.idle_threads)} / {_at_top(e, lambda s: s.server_threads)}"),
    ),
    ("in flight at λ*", _mapped(lambda e: _at_top(e, in_flight, 1))),
    ("threads per request in flight", _mapped(lambda e: number(threads_per_request(e)[1], 2))),
)


def rows(entries: list[CapacityEntry]) -> Table:
    return table(PATHS, entries)


def compare(a: CapacityEntry, b: CapacityEntry, names: tuple[str, str] | None = None) -> str:
    """Two mapped configurations (by default named by their scenarios), with what the data can
    and cannot separate."""
    name_a, name_b = names or (a.scenario, b.scenario)
    ca, cb = a.lambda_star_ci95, b.lambda_star_ci95
    if not (ca and cb):
        return say_capacity.searches(name_a, name_b, a, b, _apart(a, b), None, None)
    # Each repeat's λ* is only known to lie in [held, failed): widen each CI up by its bracket.
    wa, wb = _width(a), _width(b)
    overlap = ca[0] <= cb[1] + wb + CI_ROUNDING and cb[0] <= ca[1] + wa + CI_ROUNDING
    higher = None if overlap else name_a if a.lambda_star_rps > b.lambda_star_rps else name_b
    return say_capacity.searches(name_a, name_b, a, b, False, higher, (wa, wb))


def _apart(a: CapacityEntry, b: CapacityEntry) -> bool:
    """Whether the two searches' brackets [held, failed] are disjoint."""
    (ha, fa), (hb, fb) = a.lambda_star_bracket, b.lambda_star_bracket
    if None in (ha, fa, hb, fb):
        return False
    return fa <= hb or fb <= ha


def _width(e: CapacityEntry) -> float:
    held, failed = e.lambda_star_bracket
    return failed - held if held is not None and failed is not None else 0.0


def _thread_sentence(e: CapacityEntry) -> str | None:
    step = top_step(e)
    extra, per = threads_per_request(e)
    if step is None or extra is None:
        return None
    return say.threads(e, _where(e), step, extra, in_flight(step), per)


def sentences(entries: list[CapacityEntry]) -> list[str]:
    said = []
    groups: dict[tuple, list[CapacityEntry]] = defaultdict(list)
    for e in entries:
        if e.skipped:
            said.append(say.not_mapped(e, _where(e)))
        elif e.lambda_star_rps is not None:
            said.append(say.mapped(e, _where(e)))
            groups[_config(e)].append(e)
    said += [s for e in entries if (s := _thread_sentence(e))]
    for mapped in groups.values():
        where = _where(mapped[0])
        said += [say.compared(where, compare(a, b)) for a, b in combinations(mapped, 2)]
        if len(mapped) > 1 and all(e.limit.cpu_ms_per_request is not None for e in mapped):
            said.append(say.cpu(where, mapped))
        pooled = [
            e for e in mapped if e.limit.binds == POOL and (e.limit.share or 0) >= NEAR_CEILING
        ]
        if len(mapped) > 1 and len(pooled) == len(mapped):
            shares = sorted(e.limit.share for e in mapped)
            said.append(say.pool_bound(where, shares, mapped[0].limit.model))
    return said


def rules() -> str:
    return say.rules()


def section(record: Results, template: str) -> str:
    """The section through ``template``'s layout (parts.md.j2 or parts.html.j2), or ''."""
    entries, cells = entries_of(record), cells_of(record)
    compared = db_comparison.section(record.db_comparison)
    if not (entries or compared or cells):
        return ""
    layout = ENV.get_template(template).module.database
    return str(
        layout(
            TITLE,
            compared,
            Part(CELLS_TITLE, cell_sentences(cells), cell_rows(cells), "") if cells else None,
            Part(CAPACITY_TITLE, sentences(entries), rows(entries), rules()) if entries else None,
        )
    )
