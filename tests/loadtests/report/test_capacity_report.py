"""The capacity section of summary.md and report.html, from a results.json's capacity list."""

from __future__ import annotations

import json

import msgspec
from markupsafe import escape

from loadtests import report
from loadtests.analysis.capacity import (
    CapacityEntry,
    CapacitySearch,
    CapacityStep,
    RoutePrediction,
    binding_limit,
    model_ceiling,
)
from loadtests.analysis.lambda_star import combine
from loadtests.model.latency import LatencyMs
from loadtests.report.capacity import ROUTES_TITLE, headline
from loadtests.scenarios import SCENARIOS


def _step(rate: float, p99: float, verdict: str) -> CapacityStep:
    return CapacityStep(
        offered_rps=rate,
        achieved_rps=rate,
        duration_s=2.0,
        scheduled=int(2 * rate),
        sent=int(2 * rate),
        completed=int(2 * rate),
        errors=0,
        late=0,
        dropped=0,
        latency_ms=LatencyMs(p50=p99 / 2, p95=p99 * 0.9, p99=p99),
        send_latency_ms=LatencyMs(p99=p99),
        generator_lag_p99_ms=1.0,
        verdict=verdict,
        server_cpu_s=0.1,
    )


def search(repeat: int, held: float, failed: float) -> CapacitySearch:
    return CapacitySearch(repeat=repeat, seed=repeat, lambda_star_rps=held, bracket=[held, failed])


def _entry(
    server: str,
    workers: int,
    scenario: str,
    held: float,
    failed: float,
    variant: str = "",
    cpu_ms: float = 1.1,
) -> CapacityEntry:
    model = model_ceiling(SCENARIOS[scenario], server, workers, 8, 0.1, 5, 100)
    return CapacityEntry(
        server=server,
        workers=workers,
        threads=8,
        scenario=scenario,
        delay_s=0.1,
        slo_p99_ms=220.0,
        lambda_star_rps=held,
        lambda_star_bracket=[held, failed],
        limit=binding_limit(held, model, (1000.0 / cpu_ms, cpu_ms)),
        variant=variant,
        steps=[
            _step(held / 2, 110.0, "held"),
            _step(held, 150.0, "held"),
            _step(failed, 900.0, "p99 over the SLO"),
        ],
        min_step_requests=100,
    )


def test_the_capacity_section_explains_every_lambda_star(stored_run):
    path = stored_run / "results.json"
    data = json.loads(path.read_text())
    entries = [
        _entry("gunicorn-gthread", 1, "sync-api", 70.0, 80.0),
        _entry("gunicorn-gthread", 2, "sync-api", 140.0, 160.0),
        _entry("uvicorn", 1, "sync-api", 600.0, 700.0),
        _entry("uvicorn", 1, "async-api", 750.0, 800.0, cpu_ms=1000 / 900),
        _entry("uvicorn", 1, "async-api", 800.0, 850.0, variant="off", cpu_ms=0.8),
        _entry("uvicorn", 1, "async-api", 600.0, 650.0, variant="django-prometheus", cpu_ms=1.2),
    ]
    _, page = report.render(stored_run)
    figures_before = page.read_text().count("<svg")
    data["capacity"] = [msgspec.to_builtins(e) for e in entries]
    path.write_text(json.dumps(data))
    summary, page = report.render(stored_run)
    text = summary.read_text()
    assert "## Capacity" in text
    assert "| gunicorn-gthread/1x8/sync-api | 70.0 | [70.0, 80.0] | - | - | 220 |" in text
    assert "slot-bound: 1 worker(s) x 8 threads / 0.1 s = 80 req/s; λ* reached 88% of it" in text
    assert "CPU-bound at 83% of the CPU ceiling" in text  # 750 / 900
    assert "λ* of 2 workers 140 against 1 70 req/s (2.00x): one search each, no CI" in text
    assert "which do not overlap" in text  # [140, ...] against [70, ...]
    assert "λ* of the async view against the sync view: async-api" in text
    # The old "metrics off" variant comparison is gone: a stack's cost is observability's section.
    assert "of the capacity with metrics off" not in text
    assert "each step lasts max(1 s, 100 requests / rate)" in text
    assert "### How each step was judged" in text
    # Made-up entries of one search each: the headline says so, and gives no verdict.
    assert "## The headline answers: capacity (λ*) with 95% intervals" in text
    assert "1.25x, no verdict: one search each: no interval" in text
    html = page.read_text()
    assert html.count("<svg") == figures_before + 2  # latency against load; λ* against workers
    assert "SLO 220 ms" in html


def _searched(
    server: str, workers: int, scenario: str, lambdas: list[float], error: str = ""
) -> CapacityEntry:
    """An entry of fresh searches with the given λ*s (mean, Student's t interval)."""
    searches = [search(i + 1, x, x * 1.04) for i, x in enumerate(lambdas)]
    lam, bracket, ci = combine(searches)
    base = _entry(server, workers, scenario, lam, bracket[1])
    return msgspec.structs.replace(
        base,
        lambda_star_bracket=bracket,
        lambda_star_ci95=ci,
        repeats=len(lambdas),
        repeats_lambda_star_rps=lambdas,
        searches=searches,
        measurement_error=error,
    )


def test_the_headline_answers_significant_not_significant_and_unanswered():
    entries = [
        _searched("uvicorn", 1, "async-api", [950.0, 1000.0, 1050.0]),
        _searched("uvicorn", 1, "sync-api", [600.0, 620.0, 640.0]),
        _searched("gunicorn-gthread", 1, "sync-api", [590.0, 640.0, 610.0]),
        _searched(
            "gunicorn-gthread",
            2,
            "sync-api",
            [1300.0, 1200.0, 1250.0],
            error="λ* 1,250 req/s is above the CPU ceiling's 95% interval",
        ),
    ]
    first, second, third = headline(entries)
    assert first.verdict == "significant"
    assert first.ratio.startswith("1.61x (95% CI ")
    assert "1,000 req/s (95% CI 876-1,124, 3 searches)" in first.a_lambda
    assert second.verdict == "not significant"  # 613 against 620: the interval holds 1
    low, high = (float(x) for x in second.ratio.split("CI ")[1].rstrip(")").split("-"))
    assert low < 1.0 < high
    # The smallest detectable difference, from the same standard error: wider than the
    # interval's half-width (80% power needs t_.975 + t_.80 standard errors).
    assert float(second.detectable.rstrip("%")) / 100 > high - 1.0
    assert third.unanswered.startswith("no λ* to compare (gunicorn-gthread/2x8/sync-api: λ* 1,250")
    assert headline([_entry("granian", 1, "sync-api", 700.0, 750.0)]) == []


def test_a_headline_with_a_lower_bound_is_one_sided():
    """The generator limited the async view's searches: its true λ* is higher, so the ratio is
    "at least" what was measured, significant only when its interval's low end is above 1;
    with both sides lower bounds the ratio bounds nothing."""

    def limited(entry: CapacityEntry) -> CapacityEntry:
        return msgspec.structs.replace(entry, lower_bound=True)

    sync = _searched("uvicorn", 1, "sync-api", [600.0, 620.0, 640.0])
    clear = limited(_searched("uvicorn", 1, "async-api", [950.0, 1000.0, 1050.0]))
    close = limited(_searched("uvicorn", 1, "async-api", [560.0, 640.0, 720.0]))
    first = headline([clear, sync])[0]
    assert (first.verdict, first.ratio[:16]) == ("significant", "at least 1.61x (")
    first = headline([close, sync])[0]
    assert not first.verdict
    assert first.ratio.startswith("at least 1.03x")
    assert "the true ratio is at least this" in first.unanswered
    first = headline([clear, limited(sync)])[0]
    assert not first.verdict
    assert "both λ* are lower bounds" in first.unanswered


def test_the_headline_renders_at_the_top_and_a_measurement_error_is_no_result(stored_run):
    path = stored_run / "results.json"
    data = json.loads(path.read_text())
    entries = [
        _searched("uvicorn", 1, "async-api", [950.0, 1000.0, 1050.0]),
        _searched("uvicorn", 1, "sync-api", [600.0, 620.0, 640.0]),
        _searched(
            "gunicorn-gthread",
            1,
            "sync-api",
            [590.0, 640.0, 610.0],
            error="λ* 613 req/s is above the 500 req/s the same server reached saturated",
        ),
    ]
    data["capacity"] = [msgspec.to_builtins(e) for e in entries]
    path.write_text(json.dumps(data))
    summary, page = report.render(stored_run)
    text = summary.read_text()
    assert text.index("## The headline answers") < text.index("## What this means")
    assert "**Async or sync view, under uvicorn x 1?** `uvicorn/1x8/async-api` against" in text
    assert ", significant (the run could have detected a difference of" in text
    assert "not answered: no λ* to compare (gunicorn-gthread/1x8/sync-api: λ* 613" in text
    assert "not answered: gunicorn-gthread/2x8/sync-api not mapped in this run" in text
    assert "| gunicorn-gthread/1x8/sync-api | measurement error (613.3) |" in text
    assert "gunicorn-gthread/1x8/sync-api: measurement error, not a result" in text
    assert "The headline answers" in page.read_text()
    # The map's own comparisons use the same Welch interval over the searches.
    assert (
        "λ* of the async view against the sync view: async-api 1,000 against sync-api 620 "
        "req/s: 1.61x (95% CI " in text
    )
    assert "async-api is higher." in text


def test_a_projects_routes_are_measured_beside_their_prediction(stored_run):
    # make bench APP=<dir>: entries named by route carry what analysis.prediction predicted.
    predicted = RoutePrediction(
        view="sync",
        service_ms=12.5,
        cpu_ms=3.25,
        as_written_rps=640.0,
        as_written_binds="threads",
        as_written="8 x 1 / 12.5 ms",
        if_async_rps=900.0,
        if_async_binds="cpu",
        if_async="1 core / 3.25 ms",
    )
    routed = msgspec.structs.replace(
        _entry("uvicorn", 1, "sync-api", 600.0, 700.0), route="article-detail", prediction=predicted
    )
    unpredicted = msgspec.structs.replace(
        _entry("uvicorn", 2, "sync-api", 900.0, 1000.0), route="article-list"
    )
    path = stored_run / "results.json"
    data = json.loads(path.read_text())
    data["capacity"] = [msgspec.to_builtins(e) for e in (routed, unpredicted)]
    path.write_text(json.dumps(data))
    summary, page = report.render(stored_run)
    text, html = summary.read_text(), page.read_text()
    assert f"## {ROUTES_TITLE}\n\n| route | server |" in text, "a table, no empty list before it"
    row = "| article-detail | uvicorn | 1 x 8 | sync | 12.50 | 3.25 | 600.0 [600, 700] |"
    assert row + " 640 (threads) | 900 (cpu) | 0.94 |" in text
    assert "| article-list | uvicorn | 2 x 8 | - | - | - | 900.0 [900, 1,000] | - | - | - |" in text
    assert "A λ* with '>=' is a lower bound (the generator could not go higher)." in text
    assert f"<h2>{escape(ROUTES_TITLE)}</h2><div class=" in html
    # Without routes (the lab's own views), no such section.
    data["capacity"] = [msgspec.to_builtins(_entry("uvicorn", 1, "sync-api", 600.0, 700.0))]
    path.write_text(json.dumps(data))
    summary, _ = report.render(stored_run)
    assert ROUTES_TITLE not in summary.read_text()
