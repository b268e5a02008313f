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
from collections import defaultdict
from dataclasses import dataclass

from loadtests.analysis.capacity import CapacityEntry, lambda_ratio
from loadtests.analysis.records import Results
from loadtests.analysis.stats import POWER, Ratio, ratio_digits
from loadtests.plugins.recording import LAG_LIMIT_MS
from loadtests.plugins.search import MAX_ERROR_RATIO, slo_rule, step_rule
from mysite.launcher import DEFAULT_THREADS

from . import database
from .plots import COLORS, _plain_log, _pyplot, _svg
from .tables import html_table, markdown_table

STYLE_LINES = ("-", "--", ":", "-.")
STYLE_MARKERS = ("o", "s", "^", "D")
TITLE = "Capacity: the highest open-model rate each configuration serves within its SLO"


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


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
    ci = e.lambda_star_ci95
    n = e.repeats or len(e.repeats_lambda_star_rps) or 1
    interval = f"95% CI {ci[0]:,.0f}-{ci[1]:,.0f}, " if ci else "no interval, "
    bound = "at least " if e.lower_bound else ""
    searches = "search" if n == 1 else "searches"
    return f"{bound}{e.lambda_star_rps:,.0f} req/s ({interval}{n} {searches})"


def _ratio_text(ratio: Ratio) -> str:
    d = ratio_digits(ratio.low, ratio.high)
    return f"{ratio.value:.{d}f}x (95% CI {ratio.low:.{d}f}-{ratio.high:.{d}f})"


def _answer(question: str, key_a: str, key_b: str, a, b) -> Headline:
    missing = [k for k, e in ((key_a, a), (key_b, b)) if e is None]
    if missing:
        why = f"{' and '.join(missing)} not mapped in this run (a time limit, or a MATCH)"
        return Headline(question, key_a, key_b, unanswered=why)
    broken = [e for e in (a, b) if not e.is_result]
    if broken:
        why = "; ".join(
            f"{e.key}: {e.measurement_error or e.error or 'no rate held'}" for e in broken
        )
        return Headline(question, key_a, key_b, unanswered=f"no λ* to compare ({why})")
    caveats = tuple(
        f"{e.key}'s λ* is a lower bound: the generator limited its search"
        for e in (a, b)
        if e.lower_bound
    )
    texts = {"a_lambda": lambda_text(a), "b_lambda": lambda_text(b), "caveats": caveats}
    compared = lambda_ratio(a, b)
    if compared is None:
        plain = f"{a.lambda_star_rps / b.lambda_star_rps:.2f}x"
        why = "one search each: no interval, so no verdict (REPEATS=3 or more gives one)"
        return Headline(question, key_a, key_b, ratio=plain, unanswered=why, **texts)
    ratio, detectable = compared
    return Headline(
        question,
        key_a,
        key_b,
        ratio=_ratio_text(ratio),
        verdict="significant" if ratio.significant else "not significant",
        detectable=f"{detectable - 1:.0%}",
        **texts,
    )


def headline(entries: list[CapacityEntry]) -> list[Headline]:
    """The three questions, answered from λ*'s ratio and its Welch interval over the fresh
    searches, or said why not. Nothing when the run mapped none of their configurations."""
    by_key = {e.key: e for e in entries if not e.variant}
    if not any(k in by_key for _, a, b in HEADLINE_QUESTIONS for k in (a, b)):
        return []
    return [_answer(q, a, b, by_key.get(a), by_key.get(b)) for q, a, b in HEADLINE_QUESTIONS]


def headline_context(record: Results) -> dict:
    """What the templates' headline block (``headline.*.j2``) needs."""
    return {
        "headline": headline(record.capacity),
        "headline_title": HEADLINE_TITLE,
        "headline_rule": headline_rule(),
    }


def headline_rule() -> str:
    return (
        "Each λ* is the mean of fresh searches (fresh servers, fresh arrival seeds) with "
        "Student's t 95% interval over them; a ratio's interval is Welch's on the log scale. "
        "'Not significant' only when the interval holds 1; beside it, the smallest difference "
        f"the run could have detected ({POWER:.0%} power at the 5% level)."
    )


def label(entry: CapacityEntry) -> str:
    threads = (
        f", {entry.threads} threads" if "gthread" in entry.server or "wsgi" in entry.server else ""
    )
    variant = f", {entry.variant}" if entry.variant else ""
    pool = f", pool {entry.db_pool_size}" if entry.db_pool_size else ""
    return f"{entry.server} x{entry.workers}{threads}{pool}{variant}"


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
                f"{database.compare(e, sync)}."
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
        f"{database.compare(many, few, names)}"
    )


def _variant_sentences(done: list[CapacityEntry]) -> list[str]:
    from loadtests.bench.overhead import BASELINE, VARIANTS

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


def _series(done):
    series = defaultdict(list)
    for e in done:
        threads = e.threads if "gthread" in e.server or "wsgi" in e.server else 0
        series[(e.server, threads, e.scenario, e.variant)].append(e)
    return {k: sorted(v, key=lambda e: e.workers) for k, v in series.items()}


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
        "The rate doubles from half the concurrency model's ceiling (or 100 req/s) until a step "
        f"fails, then bisects; {lengths}; every step waits for its requests in flight before the "
        "next starts.",
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


def latency_figure(entries: list[CapacityEntry]) -> str | None:
    scenarios = list(dict.fromkeys(e.scenario for e in entries if e.steps))
    if not scenarios:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.2 * len(scenarios), 3.2), squeeze=False)
    for ax, scenario in zip(axes[0], scenarios, strict=True):
        mine = [e for e in entries if e.scenario == scenario and e.steps]
        seen: dict[str, int] = defaultdict(int)  # a server's configurations: one style each
        for e in mine:
            points = sorted((s.offered_rps, s.latency_ms.p99) for s in e.steps if s.latency_ms.p99)
            style = seen[e.server]
            seen[e.server] += 1
            ax.plot(
                *zip(*points, strict=True),
                marker=STYLE_MARKERS[style % len(STYLE_MARKERS)],
                ls=STYLE_LINES[style % len(STYLE_LINES)],
                ms=3,
                label=label(e),
                color=COLORS.get(e.server),
            )
        for slo in sorted({e.slo_p99_ms for e in mine}):
            ax.axhline(slo, color="#555", ls="--", lw=0.8)
            ax.annotate(
                f"SLO {slo:g} ms", (0.01, slo), xycoords=("axes fraction", "data"), fontsize=7
            )
        _plain_log(ax, "xy")
        ax.set(
            title=scenario,
            xlabel="offered req/s",
            ylabel="p99 from intended start, ms",
        )
        ax.legend(fontsize=6)
    return _svg(fig)


def workers_figure(entries: list[CapacityEntry]) -> str | None:
    # Only the configurations mapped at more than one worker count make a line.
    lines = _series([e for e in entries if e.lambda_star_rps]).items()
    series = {k: v for k, v in lines if len(v) > 1}
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for (server, threads, scenario, variant), mapped in series.items():
        points = [(e.workers, e.lambda_star_rps) for e in mapped]
        name = (
            f"{scenario}, {server}"
            + (f", {threads} threads" if threads else "")
            + (f", {variant}" if variant else "")
        )
        ax.plot(*zip(*points, strict=True), marker="o", label=name, color=COLORS.get(server))
    ax.set(xlabel="workers", ylabel="λ*, req/s", title="λ* against worker count", ylim=(0, None))
    ax.set_xticks(sorted({e.workers for mapped in series.values() for e in mapped}))
    ax.legend(fontsize=6)
    return _svg(fig)


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
    return "\n".join(lines) + "\n" + database.markdown(record)


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
    return "".join(parts) + database.html_section(record)
