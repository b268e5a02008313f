"""What each instrumentation stack costs at capacity, and Locust's own files of each cell.

From ``results.json`` alone: the capacity entries of one configuration under several stacks
(``make capacity INSTRUMENTATION=none,lab,...``) side by side, each with its λ* and interval, its
ratio to ``none`` with Welch's interval over their searches (``lambda_star.lambda_ratio``: "not
significant" when it holds 1), the server's CPU per request near λ* with its interval, and the
thread hops the stack makes a request pay under ASGI. And a link to Locust's ``--html`` report
and ``--csv`` files of every closed-loop run. The templates ``observability.*.j2`` lay it out.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtests.analysis.capacity import CapacityEntry, configuration_key
from loadtests.analysis.lambda_star import bounded_ratio
from loadtests.analysis.records import Cell
from loadtests.analysis.results import Results
from loadtests.model.experiment import STACK_NAMES

from .capacity import lambda_text
from .jinja import Sentences
from .tables import Table

say = Sentences("capacity.j2")
TITLE = "What each instrumentation stack costs at capacity"
LOCUST_TITLE = "Locust's own reports of each closed-loop run"
BASELINE = "none"  # the ratio's denominator: the app with no instrumentation


@dataclass(frozen=True)
class Link:
    text: str
    href: str  # relative to the run directory


@dataclass(frozen=True)
class LocustFiles:
    cell: str
    links: tuple[Link, ...]


@dataclass(frozen=True)
class ObservabilityCost:
    table: Table | None  # None: no configuration was mapped under two stacks
    sentences: list[str]
    locust: list[LocustFiles]


def _base(e: CapacityEntry) -> str:
    return configuration_key(e.server, e.workers, e.threads, e.scenario, e.db_pool_size)


def _by_configuration(entries: list[CapacityEntry]) -> dict[str, dict[str, CapacityEntry]]:
    """Configurations mapped under two stacks or more: {base key: {stack: entry}}."""
    grouped: dict[str, dict[str, CapacityEntry]] = {}
    for e in entries:
        if e.instrumentation in STACK_NAMES:
            grouped.setdefault(_base(e), {})[e.instrumentation] = e
    return {key: stacks for key, stacks in grouped.items() if len(stacks) > 1}


def cpu_text(e: CapacityEntry) -> str:
    """The server's CPU ms per request near λ*, with the interval its ceiling's implies."""
    limit = e.limit
    ms = limit.cpu_ms_per_request
    if ms is None:
        return "-"
    ci = limit.cpu_rps_ci95
    if not ci or not limit.cpu_rps or ci[0] <= 0:
        return f"{ms:.2f}"
    # ceiling = room / ms: the ceiling's interval, turned over, is the CPU per request's.
    return f"{ms:.2f} ({ms * limit.cpu_rps / ci[1]:.2f}-{ms * limit.cpu_rps / ci[0]:.2f})"


def ceilings_text(e: CapacityEntry) -> str:
    """The model's and the CPU's ceilings and which binds: where the model's binds, a stack's
    CPU cannot move λ* until its ceiling falls below the model's."""
    limit = e.limit
    said = [f"model {limit.model_rps:,.0f}"] if limit.model_rps else []
    if limit.cpu_rps:
        ci = limit.cpu_rps_ci95
        interval = f" ({ci[0]:,.0f}-{ci[1]:,.0f})" if ci else ""
        said.append(f"CPU {limit.cpu_rps:,.0f}{interval}")
    return ", ".join(said) + (f" ({limit.binds})" if limit.binds else "") if said else "-"


def ratio_text(e: CapacityEntry, base: CapacityEntry | None) -> tuple[str, str]:
    """(λ*(e) / λ*(base) with its 95% interval, the verdict) or why there is none."""
    if base is None:
        return "-", f"no {BASELINE} entry"
    if not (e.is_result and base.is_result):
        return "-", "no λ* to compare"
    if e is base:
        return "1", "baseline"
    plain = f"{e.lambda_star_rps / base.lambda_star_rps:.2f}x"
    compared = bounded_ratio(e, base)
    if compared is None and (e.lower_bound or base.lower_bound):
        return plain, "no verdict: a λ* is a lower bound (the generator limited its search)"
    if compared is None:
        return plain, "one search each: no interval"
    if compared.bound:
        limited = BASELINE if base.lower_bound else e.instrumentation
        verdict = "significant" if compared.significant else "no verdict"
        return compared.text(), f"{verdict} ({limited}'s λ* is a lower bound)"
    if compared.significant:
        return compared.text(), "significant"
    return compared.text(), f"not significant (detectable: {compared.detectable - 1:.0%})"


def _why_none(e: CapacityEntry) -> str:
    if e.lambda_star_rps is None and not e.error:
        return "no rate held" + (" (the generator limited the search)" if e.lower_bound else "")
    return e.measurement_error or e.error or "-"


def rows(entries: list[CapacityEntry]) -> Table | None:
    grouped = _by_configuration(entries)
    if not grouped:
        return None
    header = [
        "configuration",
        "stack",
        "λ* req/s",
        f"ratio to {BASELINE}",
        "verdict",
        "server CPU ms/request (95% CI)",
        "thread hops/request (ASGI)",
        "ceilings req/s (binds)",
    ]
    table = []
    for key, stacks in grouped.items():
        base = stacks.get(BASELINE)
        for name in STACK_NAMES:
            e = stacks.get(name)
            if e is None:
                continue
            ratio, verdict = ratio_text(e, base)
            lam = lambda_text(e) if e.is_result else _why_none(e)
            hops = "-" if e.thread_hops is None else f"{e.thread_hops:g}"
            table.append([key, name, lam, ratio, verdict, cpu_text(e), hops, ceilings_text(e)])
    return header, table


def findings(entries: list[CapacityEntry]) -> list[str]:
    """Per configuration: each stack whose λ* differs significantly from the baseline's, with
    its ratio and its CPU per request beside the baseline's; or that none does, and which
    limit binds. Nothing for a configuration with no two stacks that could be compared."""
    said = []
    for key, stacks in _by_configuration(entries).items():
        base = stacks.get(BASELINE)
        compared = {
            name: found
            for name, e in stacks.items()
            if base is not None and e is not base and e.is_result and base.is_result
            if (found := bounded_ratio(e, base)) is not None
        }
        costly = [name for name in STACK_NAMES if name in compared and compared[name].significant]
        for name in costly:
            cpus = cpu_text(stacks[name]), cpu_text(base)
            said.append(say.stack_cost(key, name, BASELINE, compared[name], *cpus))
        if compared and not costly:
            said.append(say.stacks_same(key, BASELINE, len(compared), base.limit.binds))
    return said


def sentences(entries: list[CapacityEntry]) -> list[str]:
    """What the stacks cost, then what the table rests on, said once."""
    if not _by_configuration(entries):
        return []
    method = [say.stacks_ratio(BASELINE), say.stacks_cpu(), say.stacks_hops()]
    return [*findings(entries), *method]


def locust_files(cells: list[Cell]) -> list[LocustFiles]:
    """Each cell's Locust reports, linked relative to the run directory."""
    said = []
    for c in cells:
        if not c.locust_files or not c.dir:
            continue
        links = tuple(Link(name, f"{c.dir}/{name}") for name in c.locust_files)
        said.append(LocustFiles(f"{c.server} x{c.workers} {c.scenario}", links))
    return said


def cost(record: Results) -> ObservabilityCost:
    return ObservabilityCost(
        table=rows(record.capacity),
        sentences=sentences(record.capacity),
        locust=locust_files(record.cells),
    )
