"""The report's capacity map: λ* per configuration, the limit that binds, and two figures.

From ``results.json``'s ``capacity`` list alone: a table (λ*, its bracket, the SLO, both
ceilings and which binds), generated sentences (each configuration's limit; sync against async
on each server kind; what more workers bought; what observability costs), latency against
offered load per scenario (one line per configuration, the SLO marked) and λ* against workers.
"""

from __future__ import annotations

import html
from collections import defaultdict

from loadtests.analysis.capacity import CapacityEntry
from loadtests.analysis.records import Results
from loadtests.plugins.recording import LAG_LIMIT_MS
from loadtests.plugins.search import MAX_ERROR_RATIO, slo_rule, step_rule

from . import database
from .plots import COLORS, _plain_log, _pyplot, _svg
from .tables import html_table, markdown_table

STYLE_LINES = ("-", "--", ":", "-.")
STYLE_MARKERS = ("o", "s", "^", "D")
TITLE = "Capacity: the highest open-model rate each configuration serves within its SLO"


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def label(entry: CapacityEntry) -> str:
    threads = (
        f", {entry.threads} threads" if "gthread" in entry.server or "wsgi" in entry.server else ""
    )
    variant = f", {entry.variant}" if entry.variant else ""
    pool = f", pool {entry.db_pool_size}" if entry.db_pool_size else ""
    return f"{entry.server} x{entry.workers}{threads}{pool}{variant}"


def rows(entries: list[CapacityEntry]) -> tuple[list[str], list[list[str]]]:
    header = [
        "scenario",
        "configuration",
        "λ* req/s",
        "bracket [held, failed]",
        "λ* CI95",
        "SLO p99 ms",
        "model ceiling",
        "CPU ceiling",
        "binds",
        "λ* / binding",
        "steps",
    ]
    body = []
    for e in entries:
        held, failed = e.lambda_star_bracket
        body.append(
            [
                e.scenario,
                label(e),
                _n(e.lambda_star_rps, 1),
                f"[{_n(held, 1)}, {_n(failed, 1)}]",
                f"[{_n(e.lambda_star_ci95[0])}, {_n(e.lambda_star_ci95[1])}]"
                if e.lambda_star_ci95
                else "-",
                _n(e.slo_p99_ms),
                _n(e.limit.model_rps),
                _n(e.limit.cpu_rps),
                e.limit.binds or "-",
                f"{e.limit.share:.0%}" if e.limit.share is not None else "-",
                f"not applicable: {e.skipped[:80]}"
                if e.skipped
                else (str(len(e.steps)) if not e.error else f"failed: {e.error[:80]}"),
            ]
        )
    return header, body


def sentences(entries: list[CapacityEntry]) -> list[str]:
    """What the map shows, generated from its values."""
    done = [e for e in entries if e.lambda_star_rps is not None]
    said = [
        f"{e.scenario} under {label(e)}: λ* {e.lambda_star_rps:,.0f} req/s; {e.limit.sentence}"
        + (f" (search stopped: {e.stopped_because})" if "generator" in e.stopped_because else "")
        + "."
        for e in done
    ]
    by_key = {(e.server, e.workers, e.threads, e.variant, e.scenario): e for e in done}
    for (server, workers, threads, variant, scenario), e in by_key.items():
        if scenario != "async-api" or variant:
            continue
        sync = by_key.get((server, workers, threads, variant, "sync-api"))
        if sync is not None:
            said.append(f"Under {label(e)}, λ* of the async view against the sync view: "
                        f"{database.compare(e, sync)}.")  # fmt: skip
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
        "blocked loop, pooled connections / fan-out). CPU ceiling: the server's cores / its "
        "CPU-seconds per request, from a line through the held steps' CPU use (the sweep's "
        "sampler). The lower ceiling binds. λ* CI95: a bootstrap of the mean over fresh "
        "repeats (fresh servers); each repeat's λ* is known only to within its bracket, which "
        "the CI does not widen.",
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
    return "".join(parts) + database.html_section(record)
