"""The report's capacity map: λ* per configuration, the limit that binds, and two figures.

From ``results.json``'s ``capacity`` list alone: the report's first lines, the three headline
questions (async against sync under uvicorn x 1; gunicorn gthread against uvicorn; one worker
against two), each a ratio of λ*s with its 95% interval or said why not (``headline``); a table
(λ* with its interval and bracket, the SLO, both ceilings and which binds, the theory beside
it), generated sentences (each configuration's limit; sync against async on each server kind;
what more workers bought), how each step was judged, latency against offered load per scenario
(one line per configuration, the SLO marked) and λ* against workers; for a project of the
user's (``make bench APP=<dir>``), each route's λ* beside what ``analysis.prediction``
predicted. What a stack costs is observability's."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from markupsafe import Markup

from loadtests.analysis.capacity import CapacityEntry
from loadtests.analysis.lambda_star import REPEATS, bounded_ratio, lambda_ratio
from loadtests.analysis.results import Results
from loadtests.analysis.stats import POWER, Ratio, ratio_digits
from loadtests.analysis.thresholds import LAG_LIMIT_MS
from loadtests.plugins.search import MAX_ERROR_RATIO, slo_rule, step_rule
from mysite.launcher import DEFAULT_THREADS

from . import database, plots
from .jinja import ENV, Sentences
from .tables import Part, Table, interval, number, table

say = Sentences("capacity.j2")
# --- the headline answers, the report's first lines (templates/headline.*.j2)

# The three questions make bench answers first, each as (question, a, b): λ*(a) / λ*(b), the
# configurations named by their keys (``CapacityEntry.key``).
UVICORN_1 = f"uvicorn/1x{DEFAULT_THREADS}"
GTHREAD_1 = f"gunicorn-gthread/1x{DEFAULT_THREADS}"
GTHREAD_2 = f"gunicorn-gthread/2x{DEFAULT_THREADS}"
HEADLINE_QUESTIONS = (
    ("Async or sync view, under uvicorn x 1?", f"{UVICORN_1}/async-api", f"{UVICORN_1}/sync-api"),
    (
        "Gunicorn gthread or uvicorn (the sync view, one worker)?",
        f"{GTHREAD_1}/sync-api",
        f"{UVICORN_1}/sync-api",
    ),
    (
        "One worker or two (gunicorn gthread, the sync view)?",
        f"{GTHREAD_2}/sync-api",
        f"{GTHREAD_1}/sync-api",
    ),
)
HEADLINE_TITLE = "The headline answers: capacity (λ*) with 95% intervals"


@dataclass(frozen=True)
class Headline:
    """One headline question's answer, every figure from the run (the templates say it)."""

    question: str
    a: str  # the configurations' keys
    b: str
    a_lambda: str = ""  # "950 req/s (95% CI 900-1,000, 3 searches)"
    b_lambda: str = ""
    ratio: str = ""  # "1.53x (95% CI 1.40-1.68)"
    verdict: str = ""  # "significant" / "not significant"
    detectable: str = ""  # "14%": the smallest difference the run could have detected
    unanswered: str = ""  # why there is no verdict ("" : answered)
    caveats: tuple[str, ...] = ()


def lambda_text(e: CapacityEntry) -> str:
    """λ* with its interval, the searches behind it, and a lower bound said as one."""
    return say.lambda_text(e, e.repeats or len(e.repeats_lambda_star_rps) or 1)


def _ratio_text(ratio: Ratio) -> str:
    return say.ratio(ratio, ratio_digits(ratio.low, ratio.high))


def compare_lambdas(
    a: CapacityEntry, b: CapacityEntry, names: tuple[str, str] | None = None
) -> str:
    """Two mapped configurations' λ* (by default named by their scenarios) as a ratio with
    Welch's 95% interval over their searches, as the headline answers compare them; entries of
    one search each fall back to what their brackets can say (``database.compare``)."""
    compared = lambda_ratio(a, b)
    if compared is None:
        return database.compare(a, b, names)
    ratio, detectable = compared
    name_a, name_b = names or (a.scenario, b.scenario)
    higher = (
        (name_a if a.lambda_star_rps > b.lambda_star_rps else name_b) if ratio.significant else None
    )
    return say.lambdas(name_a, name_b, a, b, _ratio_text(ratio), higher, detectable - 1)


def _answer(question: str, key_a: str, key_b: str, a, b) -> Headline:
    missing = [k for k, e in ((key_a, a), (key_b, b)) if e is None]
    if missing:
        why = say.not_mapped(missing, key_a, key_b, REPEATS)
        return Headline(question, key_a, key_b, unanswered=why)
    broken = [e for e in (a, b) if not e.is_result]
    if broken:
        return Headline(question, key_a, key_b, unanswered=say.no_lambda(broken))
    caveats = tuple(say.lower_bound(e) for e in (a, b) if e.lower_bound)
    texts = {"a_lambda": lambda_text(a), "b_lambda": lambda_text(b), "caveats": caveats}
    compared = bounded_ratio(a, b)
    if compared is None:
        plain = f"{a.lambda_star_rps / b.lambda_star_rps:.2f}x"
        both = a.lower_bound and b.lower_bound
        why = say.both_bounds() if both else say.one_search(key_a, key_b, REPEATS)
        return Headline(question, key_a, key_b, ratio=plain, unanswered=why, **texts)
    if compared.bound and not compared.significant:
        # One λ* is a lower bound: the ratio is bounded on one side, which its interval holds.
        why = say.one_side(compared.bound)
        return Headline(question, key_a, key_b, ratio=compared.text(), unanswered=why, **texts)
    ratio = compared.ratio
    return Headline(
        question,
        key_a,
        key_b,
        ratio=compared.text() if compared.bound else _ratio_text(ratio),
        verdict="significant" if compared.significant else "not significant",
        detectable=f"{compared.detectable - 1:.0%}",
        **texts,
    )


def headline(entries: list[CapacityEntry]) -> list[Headline]:
    """The three questions, answered from λ*'s ratio and its Welch interval over the fresh
    searches, or said why not. Nothing when the run mapped none of their configurations."""
    by_key = {e.key: e for e in entries if not e.variant}
    if not any(k in by_key for _, a, b in HEADLINE_QUESTIONS for k in (a, b)):
        return []
    return [_answer(q, a, b, by_key.get(a), by_key.get(b)) for q, a, b in HEADLINE_QUESTIONS]


def headline_rule() -> str:
    return say.headline_rule(POWER)


# --- the map

TITLE = "Capacity: the highest open-model rate each configuration serves within its SLO"


def label(entry: CapacityEntry) -> str:
    threads = (
        f", {entry.threads} threads" if "gthread" in entry.server or "wsgi" in entry.server else ""
    )
    variant = f", {entry.variant}" if entry.variant else ""
    pool = f", pool {entry.db_pool_size}" if entry.db_pool_size else ""
    return f"{entry.server} x{entry.workers}{threads}{pool}{variant}"


def worker_lines(done: list[CapacityEntry]) -> dict[tuple, list[CapacityEntry]]:
    """The entries by configuration (server, threads, scenario, variant), fewest workers first."""
    series = defaultdict(list)
    for e in done:
        threads = e.threads if "gthread" in e.server or "wsgi" in e.server else 0
        series[(e.server, threads, e.scenario, e.variant)].append(e)
    return {k: sorted(v, key=lambda e: e.workers) for k, v in series.items()}


def _lambda(e: CapacityEntry) -> str:
    lam = number(e.lambda_star_rps, 1)
    lam = f">= {lam}" if e.lower_bound and e.lambda_star_rps is not None else lam
    return f"measurement error ({lam})" if e.measurement_error else lam


def _cpu(e: CapacityEntry) -> str:
    ci = e.limit.cpu_rps_ci95
    return number(e.limit.cpu_rps) + (interval(ci, form=" ({}-{})") if ci else "")


def _steps(e: CapacityEntry) -> str:
    if e.skipped:
        return f"not applicable: {e.skipped[:80]}"
    return f"failed: {e.error[:80]}" if e.error else str(len(e.steps))


MAP = (
    ("configuration", lambda e: e.key),
    ("λ* req/s", _lambda),
    ("bracket [held, failed]", lambda e: interval(e.lambda_star_bracket, 1)),
    ("λ* CI95", lambda e: interval(e.lambda_star_ci95)),
    ("each search's λ*", lambda e: ", ".join(map(number, e.repeats_lambda_star_rps)) or "-"),
    ("SLO p99 ms", lambda e: number(e.slo_p99_ms)),
    ("model ceiling", lambda e: number(e.limit.model_rps)),
    ("CPU ceiling (CI95)", _cpu),
    ("binds", lambda e: e.limit.binds or "-"),
    ("λ* / binding", lambda e: f"{e.limit.share:.0%}" if e.limit.share is not None else "-"),
    ("theory", lambda e: _theory_cell(e)),
    ("steps", _steps),
)


def rows(entries: list[CapacityEntry]) -> Table:
    return table(MAP, entries)


def _theory_cell(e: CapacityEntry) -> str:
    t = e.theory
    if t is None:
        return "-"
    name = f"M/D/{t.servers}" if t.model == "M/D/c" else "CPU ceiling"
    flag = {True: "agrees", False: "DISAGREES", None: "no interval"}[t.agrees]
    return f"{name} {number(t.rps, 1)} ({flag})"


def sentences(entries: list[CapacityEntry]) -> list[str]:
    """What the map shows, generated from its values."""
    done = [e for e in entries if e.is_result]
    said = [say.measurement_error(e) for e in entries if e.measurement_error]
    said += [say.entry(e, label(e), lambda_text(e)) for e in done]
    said += [say.theory(e) for e in done if e.theory is not None]
    by_key = {(e.server, e.workers, e.threads, e.variant, e.scenario): e for e in done}
    for (server, workers, threads, variant, scenario), e in by_key.items():
        sync = by_key.get((server, workers, threads, variant, "sync-api"))
        if scenario == "async-api" and not variant and sync is not None:
            said.append(say.async_sync(label(e), compare_lambdas(e, sync)))
    said += [
        workers_comparison(key, series) + "."
        for key, series in worker_lines(done).items()
        if len(series) > 1
    ]
    return said


def workers_comparison(key: tuple, series: list[CapacityEntry]) -> str:
    """The most workers against the fewest of one configuration, with what the data can say."""
    server, threads, scenario, _variant = key
    few, many = series[0], series[-1]
    compared = compare_lambdas(many, few, (f"{many.workers} workers", f"{few.workers}"))
    return say.workers(scenario, server, threads, compared)


STEPS_TITLE = "How each step was judged"


def step_rows(entries: list[CapacityEntry]) -> Table:
    """Every step of every search: its seed, asked and realised rates, p99 with its interval,
    whether it was stationary, and the verdict with the plugin's judgement."""
    return table(STEPS, ((e, s) for e in entries for s in e.steps))


def _p99(step) -> str:
    ci = step.p99_ci95
    return number(step.latency_ms.p99, 1) + (interval(ci, 1, " ({}-{})") if ci else "")


def _verdict(step) -> str:
    judged = step.verdict + (f": {step.judgement}" if step.judgement else "")
    return judged + (" (generator-limited)" if step.generator_limited else "")


STEPS = (  # over (entry, step) pairs
    ("configuration", lambda es: es[0].key),
    ("search", lambda es: str(es[1].repeat)),
    ("seed", lambda es: str(es[1].seed) if es[1].seed is not None else "-"),
    ("target req/s", lambda es: number(es[1].target_rps, 1)),
    ("offered req/s", lambda es: number(es[1].offered_rps, 1)),
    ("p99 ms (CI95)", lambda es: _p99(es[1])),
    ("over SLO", lambda es: number(es[1].over_slo)),
    ("stationary", lambda es: {True: "yes", False: "no", None: "-"}[es[1].stationary]),
    ("warm-up s", lambda es: number(es[1].warmup_s, 1)),
    ("verdict", lambda es: _verdict(es[1])),
)


def rules(entries: list[CapacityEntry]) -> list[str]:
    least = sorted({e.min_step_requests for e in entries if e.min_step_requests})
    return [
        say.rule_open(slo_rule(), MAX_ERROR_RATIO, LAG_LIMIT_MS),
        say.rule_search([step_rule(n) for n in least] or [step_rule()]),
        say.rule_ceilings(),
        say.rule_lambda(),
        say.rule_theory(),
    ]


# --- a project's routes (make bench APP=<dir>), beside the map

ROUTES_TITLE = "Your project's routes: measured beside predicted"


def _route_lambda(e: CapacityEntry) -> str:
    """λ* (a lower bound said as one) with its bracket, or why it is not a result."""
    if e.error or e.measurement_error:
        return f"not a result: {(e.error or e.measurement_error)[:80]}"
    return f"{_lambda(e)} {interval(e.lambda_star_bracket)}"


def _predicted(read):
    """A column that an entry without a prediction leaves at '-'."""
    return lambda e: read(e.prediction) if e.prediction else "-"


def _measured_share(e: CapacityEntry) -> str:
    p = e.prediction
    if p and e.lambda_star_rps and p.as_written_rps:
        return f"{e.lambda_star_rps / p.as_written_rps:.2f}"
    return "-"


ROUTES = (
    ("route", lambda e: e.route),
    ("server", lambda e: e.server),
    ("workers x threads", lambda e: f"{e.workers} x {e.threads}"),
    ("view", _predicted(lambda p: p.view)),
    ("S ms", _predicted(lambda p: f"{p.service_ms:.2f}")),
    ("CPU ms/request", _predicted(lambda p: f"{p.cpu_ms:.2f}")),
    ("λ* req/s [held, failed]", _route_lambda),
    (
        "predicted as written (binds)",
        _predicted(lambda p: f"{number(p.as_written_rps)} ({p.as_written_binds})"),
    ),
    (
        "predicted if async (binds)",
        _predicted(lambda p: f"{number(p.if_async_rps)} ({p.if_async_binds})"),
    ),
    ("λ* / predicted", _measured_share),
)


def routes_part(record: Results) -> Part | None:
    """The routes' table, beside the capacity map; None for the lab's own views."""
    entries = [e for e in record.capacity or [] if e.route is not None]
    return Part(ROUTES_TITLE, [], table(ROUTES, entries), say.routes_rule()) if entries else None


def _layout(record: Results, template: str, figures: list) -> str:
    """The map, if any, then the database section (the paired comparison runs without a map)."""
    entries = record.capacity
    if not entries:
        return database.section(record, template)
    steps = step_rows(entries) if any(e.steps for e in entries) else None
    macros = ENV.get_template(template).module
    said = (TITLE, sentences(entries), rows(entries), rules(entries), STEPS_TITLE, steps)
    mine = routes_part(record)
    mine = str(macros.part(mine)) if mine else ""
    return str(macros.capacity(*said, *figures)) + mine + database.section(record, template)


def markdown(record: Results) -> str:
    return _layout(record, "parts.md.j2", [])


def html_section(record: Results) -> str:
    entries = record.capacity
    lines = worker_lines([e for e in entries if e.is_result])
    drawn = (
        [
            (plots.latency_figure(entries, label), say.figure_latency),
            (plots.workers_figure(lines), say.figure_workers),
        ]
        if entries
        else []
    )
    figures = [(Markup(svg), caption()) for svg, caption in drawn if svg]
    return _layout(record, "parts.html.j2", [figures])
