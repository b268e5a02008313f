"""The report's capacity map: λ* per configuration, the limit that binds, and two figures.

From ``results.json``'s ``capacity`` list alone: the headline answers (``headline``: three
questions, each a ratio of λ*s with its 95% interval), a table (λ* with its interval and
bracket, the SLO, both ceilings and which binds, the theory beside it), generated sentences
(each configuration's limit; sync against async on each server kind; what more workers bought;
what observability costs), how each step was judged, latency against offered load per scenario
(one line per configuration, the SLO marked) and λ* against workers.
"""

from __future__ import annotations

import html

from loadtests.analysis.capacity import CapacityEntry
from loadtests.analysis.results import Results
from loadtests.analysis.thresholds import LAG_LIMIT_MS
from loadtests.plugins.search import MAX_ERROR_RATIO, slo_rule, step_rule

from . import database, routes
from .capacity_figures import _series, label, latency_figure, workers_figure
from .headline import compare_lambdas, lambda_text
from .tables import html_table, markdown_table

TITLE = "Capacity: the highest open-model rate each configuration serves within its SLO"


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def rows(entries: list[CapacityEntry]) -> tuple[list[str], list[list[str]]]:
    header = [
        "configuration",
        "λ* req/s",
        "bracket [held, failed]",
        "λ* CI95",
        "each search's λ*",
        "SLO p99 ms",
        "model ceiling",
        "CPU ceiling (CI95)",
        "binds",
        "λ* / binding",
        "theory",
        "steps",
    ]
    body = []
    for e in entries:
        held, failed = e.lambda_star_bracket
        cpu_ci = e.limit.cpu_rps_ci95
        lam = _n(e.lambda_star_rps, 1)
        lam = f">= {lam}" if e.lower_bound and e.lambda_star_rps is not None else lam
        body.append(
            [
                e.key,
                f"measurement error ({lam})" if e.measurement_error else lam,
                f"[{_n(held, 1)}, {_n(failed, 1)}]",
                f"[{_n(e.lambda_star_ci95[0])}, {_n(e.lambda_star_ci95[1])}]"
                if e.lambda_star_ci95
                else "-",
                ", ".join(_n(x) for x in e.repeats_lambda_star_rps) or "-",
                _n(e.slo_p99_ms),
                _n(e.limit.model_rps),
                _n(e.limit.cpu_rps) + (f" ({_n(cpu_ci[0])}-{_n(cpu_ci[1])})" if cpu_ci else ""),
                e.limit.binds or "-",
                f"{e.limit.share:.0%}" if e.limit.share is not None else "-",
                _theory_cell(e),
                f"not applicable: {e.skipped[:80]}"
                if e.skipped
                else (str(len(e.steps)) if not e.error else f"failed: {e.error[:80]}"),
            ]
        )
    return header, body


def _theory_cell(e: CapacityEntry) -> str:
    t = e.theory
    if t is None:
        return "-"
    name = f"M/D/{t.servers}" if t.model == "M/D/c" else "CPU ceiling"
    flag = {True: "agrees", False: "DISAGREES", None: "no interval"}[t.agrees]
    return f"{name} {_n(t.rps, 1)} ({flag})"


def sentences(entries: list[CapacityEntry]) -> list[str]:
    """What the map shows, generated from its values."""
    errors = [e for e in entries if e.measurement_error]
    done = [e for e in entries if e.is_result]
    said = [f"{e.key}: measurement error, not a result: {e.measurement_error}." for e in errors]
    said += [
        f"{e.scenario} under {label(e)}: λ* {lambda_text(e)}; {e.limit.sentence}"
        + (f" (search stopped: {e.stopped_because})" if e.lower_bound else "")
        + "."
        for e in done
    ]
    said += [
        f"{e.key}, theory beside λ*: {e.theory.sentence}"
        + (" (disagreement beyond the interval)" if e.theory.agrees is False else "")
        + "."
        for e in done
        if e.theory is not None
    ]
    by_key = {(e.server, e.workers, e.threads, e.variant, e.scenario): e for e in done}
    for (server, workers, threads, variant, scenario), e in by_key.items():
        if scenario != "async-api" or variant:
            continue
        sync = by_key.get((server, workers, threads, variant, "sync-api"))
        if sync is not None:
            said.append(
                f"Under {label(e)}, λ* of the async view against the sync view: "
                f"{compare_lambdas(e, sync)}."
            )
    said += _workers_sentences(done) + _variant_sentences(done)
    return said


def _workers_sentences(done: list[CapacityEntry]) -> list[str]:
    return [
        workers_comparison(key, series) + "."
        for key, series in _series(done).items()
        if len(series) > 1
    ]


def workers_comparison(key: tuple, series: list[CapacityEntry]) -> str:
    """The most workers against the fewest of one configuration, with what the data can say."""
    server, threads, scenario, _variant = key
    few, many = series[0], series[-1]
    names = (f"{many.workers} workers", f"{few.workers}")
    return (
        f"{scenario} under {server}{f' ({threads} threads)' if threads else ''}, λ* of "
        f"{compare_lambdas(many, few, names)}"
    )


def _variant_sentences(done: list[CapacityEntry]) -> list[str]:
    from loadtests.model.experiment import BASELINE, VARIANTS

    labels = {v.name: v.label for v in VARIANTS}

    said = []
    base = {(e.server, e.workers, e.scenario): e for e in done if e.variant == BASELINE}
    for e in done:
        off = base.get((e.server, e.workers, e.scenario))
        if not e.variant or e.variant == BASELINE or off is None:
            continue
        lost = 1 - e.lambda_star_rps / off.lambda_star_rps
        ci = ""
        if e.lambda_star_ci95 and off.lambda_star_ci95:
            worst = 1 - e.lambda_star_ci95[0] / off.lambda_star_ci95[1]
            best = 1 - e.lambda_star_ci95[1] / off.lambda_star_ci95[0]
            ci = f" (CI95 of the λ*s gives {best:.0%} to {worst:.0%})"
        cpu = ""
        if e.limit.cpu_ms_per_request and off.limit.cpu_ms_per_request:
            cpu = (
                f"; its server CPU per request is {e.limit.cpu_ms_per_request:.2f} ms against "
                f"{off.limit.cpu_ms_per_request:.2f} ms"
            )
        said.append(
            f"{e.scenario} under {e.server} x{e.workers}: {labels[e.variant]} costs "
            f"{lost:.0%} of the capacity with metrics off ({e.lambda_star_rps:,.0f} against "
            f"{off.lambda_star_rps:,.0f} req/s){ci}{cpu}."
        )
    return said


STEPS_TITLE = "How each step was judged"


def step_rows(entries: list[CapacityEntry]) -> tuple[list[str], list[list[str]]]:
    """Every step of every search: its seed, asked and realised rates, p99 with its interval,
    whether it was stationary, and the verdict with the plugin's judgement."""
    header = [
        "configuration",
        "search",
        "seed",
        "target req/s",
        "offered req/s",
        "p99 ms (CI95)",
        "over SLO",
        "stationary",
        "warm-up s",
        "verdict",
    ]
    body = []
    for e in entries:
        for s in e.steps:
            ci = s.p99_ci95
            p99 = _n(s.latency_ms.p99, 1) + (f" ({_n(ci[0], 1)}-{_n(ci[1], 1)})" if ci else "")
            stationary = {True: "yes", False: "no", None: "-"}[s.stationary]
            verdict = s.verdict + (f": {s.judgement}" if s.judgement else "")
            verdict += " (generator-limited)" if s.generator_limited else ""
            body.append(
                [
                    e.key,
                    str(s.repeat),
                    str(s.seed) if s.seed is not None else "-",
                    _n(s.target_rps, 1),
                    _n(s.offered_rps, 1),
                    p99,
                    _n(s.over_slo),
                    stationary,
                    _n(s.warmup_s, 1),
                    verdict,
                ]
            )
    return header, body


def rules(entries: list[CapacityEntry]) -> list[str]:
    least = sorted({e.min_step_requests for e in entries if e.min_step_requests})
    lengths = "; ".join(step_rule(n) for n in least) or step_rule()
    return [
        "Open model: requests start on a Poisson schedule whatever the answers, over kept-alive "
        "connections (as many as requests in flight); latency counts from each request's "
        f"intended start. SLO: {slo_rule()}; a step also fails when "
        f"{MAX_ERROR_RATIO:.1%} or more of its requests fail or are dropped, or when the "
        f"generator's schedule lag p99 passes {LAG_LIMIT_MS:g} ms (the search then stops: "
        "λ* is a lower bound).",
        "The search runs inside Locust (loadtests.plugins.search): it raises the rate from "
        "half the concurrency model's ceiling (or a CPU-bound guess) until a step fails, then "
        f"narrows the bracket [held, failed] to within the plan's precision; {lengths}; every "
        "step waits for its requests in flight before the next starts. How each step was "
        "judged is in the steps table.",
        "Model ceiling: the server's slots / service time (threads for WSGI kinds, one per "
        "blocked loop, pooled connections / fan-out). CPU ceiling: the cores the idle server "
        "leaves (its CPU measured before the first step) / the CPU per request of the held "
        "steps near λ* (at least 70% of the highest held rate), each step's CPU from the "
        "sampler's readings inside its steady part; its 95% interval is Student's t over those "
        "steps (over one step's sampling intervals when it is alone). The lower ceiling binds.",
        "λ*: the mean of fresh searches (each a fresh server with a fresh arrival seed derived "
        "from the run, the configuration and the repeat); λ* CI95: Student's t over them, each "
        "search's λ* known only to within its bracket, which the interval does not widen; the "
        "bracket: the means of the searches' edges. A λ* above the CPU ceiling's interval, or "
        "above the throughput the same server reached saturated by closed-loop users, is a "
        "measurement error, not a result. A search the generator limited gives a lower bound "
        "(>=).",
        "Theory: for a slot- or pool-bound configuration, M/D/c (c the slots, a fixed service "
        "time = the view's wait + its overhead measured at the lowest held rate): the highest "
        "steady rate whose p99 meets the SLO, computed exactly (Crommelin); for a CPU-bound one, "
        "the CPU ceiling. 'DISAGREES' when it lies outside λ*'s interval (its bracket, with one "
        "search).",
    ]


def markdown(record: Results) -> str:
    if not record.capacity:
        return database.markdown(record)  # the paired comparison runs without a map
    lines = [
        f"## {TITLE}",
        "",
        *[f"- {s}" for s in sentences(record.capacity)],
        "",
        markdown_table(*rows(record.capacity)),
        "",
        *[f"{r}" for r in rules(record.capacity)],
        "",
    ]
    if any(e.steps for e in record.capacity):
        lines += [f"### {STEPS_TITLE}", "", markdown_table(*step_rows(record.capacity)), ""]
    return "\n".join(lines) + "\n" + routes.markdown(record) + database.markdown(record)


def html_section(record: Results) -> str:
    if not record.capacity:
        return database.html_section(record)
    items = "".join(f"<li>{html.escape(s)}</li>" for s in sentences(record.capacity))
    parts = [f"<h2>{html.escape(TITLE)}</h2>", f"<ul>{items}</ul>"]
    for svg, caption in (
        (
            latency_figure(record.capacity),
            "p99 from the intended start against offered load: "
            "each line is one configuration; it bends up at its knee; dashed, the SLO.",
        ),
        (workers_figure(record.capacity), "λ* against the worker count."),
    ):
        if svg:
            parts.append(f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append(html_table(*rows(record.capacity)))
    parts += [f"<p>{html.escape(r)}</p>" for r in rules(record.capacity)]
    if any(e.steps for e in record.capacity):
        parts.append(
            f"<details><summary>{html.escape(STEPS_TITLE)}</summary>"
            f"{html_table(*step_rows(record.capacity))}</details>"
        )
    return "".join(parts) + routes.html_section(record) + database.html_section(record)
