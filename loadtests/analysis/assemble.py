"""From a cell's windows, scrapes and process samples to the cell that results.json holds.

Pure: it reads what the runs gathered (window files, scrape files, samples) and computes pooled
percentiles, mean rates with their spread, the ceilings, the server's percentiles at their
buckets' precision, per-worker request counts, the runs' warm-ups, and the flags that say which
number to distrust.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from loadtests.model.experiment import Experiment
from loadtests.model.latency import QUANTILES, Latency
from loadtests.model.windows import Boundary

from . import littles, scrape, stats
from .records import (
    Cell,
    GeneratorUse,
    NodeCpu,
    ProcessUse,
    UpstreamUse,
    Warmup,
    Window,
)
from .thresholds import (
    GENERATOR_SATURATED_PERCENT,
    SERVER_CPU_BOUND_PERCENT,
    UPSTREAM_BUSY_PERCENT,
)


def _histograms(run_dir: Path, boundary: Boundary, route: str) -> tuple | None:
    """The route's and the upstream calls' cumulative histograms at an edge (None: no scrape)."""
    if not boundary.scrape_file:
        return None
    families = scrape.parse((run_dir / boundary.scrape_file).read_text())
    return scrape.route_histogram(families, route), scrape.upstream_histogram(families)


class Measured(NamedTuple):
    """A window's record, with what the cell pools from it: its latency and server histograms."""

    window: Window
    times: Latency
    server: scrape.Histogram | None
    upstream: scrape.Histogram | None


def _windows(plan: Experiment, run: dict, run_number: int) -> list[Measured]:
    data, sampler = run["windows"], run["sampler"]
    edges = data.boundaries
    histograms = [_histograms(run["dir"], b, plan.spec.path) for b in edges]
    out = []
    for index, (first, last) in enumerate(itertools.pairwise(edges)):
        start, end = first.unix, last.unix
        entry, cpu = data.pooled(index)
        before, after = histograms[index], histograms[index + 1]
        server, upstream = (None, None)
        if before is not None and after is not None:
            server, upstream = after[0] - before[0], after[1] - before[1]
        window = Window(
            run=run_number,
            server_requests_by_worker=_by_worker(plan, first, last),
            read_s=[first.read_s, last.read_s] if first.read_s is not None else None,
            start=start,
            end=end,
            duration_s=round(end - start, 3),
            # How long the server kept each edge's scrape waiting (its queue, roughly).
            scrape_s=[first.scrape_s, last.scrape_s],
            requests=entry.requests,
            failures=entry.failures,
            rps=round(entry.share / (end - start), 2),
            latency_ms=entry.latency.summary(),
            errors=entry.top_errors(),
            generator_cpu=[NodeCpu(node=n, cpu_percent=round(c, 1)) for n, c in cpu],
            server_process=_process(sampler, "server", start, end),
            upstream_process=_process(sampler, "upstream", start, end),
            server_latency_ms=server and server.latency_ms(),
            server_requests=round(server.count) if server else None,
        )
        out.append(Measured(window, entry.latency, server, upstream))
    return out


def _mean(values):
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 1) if values else None


def _sum_hist(hists):
    hists = [h for h in hists if h is not None]
    return sum(hists[1:], hists[0]) if hists else None


def assemble(plan: Experiment, runs: list[dict], cell_dir: Path, cores: int | None) -> Cell:
    """The cell for results.json: pooled percentiles, mean rates with their spread, ceilings."""
    per_run = [_windows(plan, run, number) for number, run in enumerate(runs, 1)]
    measured = [m for run in per_run for m in run]
    windows = [m.window for m in measured]
    times = Latency.merged(m.times for m in measured)
    server_hist = _sum_hist(m.server for m in measured)
    upstream_hist = _sum_hist(m.upstream for m in measured)
    rates = [w.rps for w in windows]
    rps = round(statistics.fmean(rates), 2) if rates else 0.0
    latency = times.summary()
    model_rps, model_text = plan.model()
    generator_cpu = max((g.cpu_percent for w in windows for g in w.generator_cpu), default=None)
    server_cpu = _mean(w.server_process and w.server_process.cpu_percent for w in windows)
    upstream_cpu = _mean(w.upstream_process and w.upstream_process.cpu_percent for w in windows)

    def peak(field):
        return max((getattr(w.server_process, field, 0) or 0 for w in windows), default=0) or None

    requests = sum(w.requests for w in windows)
    failures = sum(w.failures for w in windows)
    errors: Counter = Counter()
    for w in windows:
        errors.update(dict(w.errors))
    workers_ready = min((run["workers"] for run in runs if "workers" in run), default=None)
    warmups = [
        Warmup(run=n, seconds=run["windows"].warmup_s, steady=run["windows"].steady)
        for n, run in enumerate(runs, 1)
    ]
    raised = {
        "failures": failures,
        "generator-saturated": (generator_cpu or 0) > GENERATOR_SATURATED_PERCENT,
        "server-cpu-bound": bool(cores) and (server_cpu or 0) > SERVER_CPU_BOUND_PERCENT * cores,
        "upstream-busy": (upstream_cpu or 0) > UPSTREAM_BUSY_PERCENT,
        "no-server-histogram": server_hist is None,
        "no-requests": requests == 0,
        "workers-not-ready": workers_ready is not None and workers_ready < plan.workers,
        "never-steady": any(w.steady is False for w in warmups),
    }
    flags = [flag for flag, on in raised.items() if on]
    ci = stats.run_intervals(
        [[(m.window.rps, m.times) for m in run] for run in per_run],
        ["rps", *(str(q) for q in QUANTILES.values())],
    )
    if latency is not None:
        for key, q in QUANTILES.items():
            setattr(latency, f"{key}_ci95", ci[str(q)])
    concurrency = littles.concurrency(rps, latency.mean if latency else None)
    tolerance = littles.tolerance(plan.users, requests, times.cv()) if requests else None
    law = littles.flag(plan.users, concurrency, tolerance) if tolerance is not None else None
    if law:
        flags.append(law)
    by_worker, imbalance = _sum_by_worker(windows, plan.workers)
    return Cell(
        **_planned(plan),
        delay_s=plan.delay,
        fanout=plan.fanout if plan.spec.uses_upstream else None,
        service_time_s=plan.service_time,
        warmup_s=max((w.seconds for w in warmups), default=plan.warmup),
        warmups=warmups or None,
        window_s=runs[0]["windows"].length_s if runs else None,
        repeats=len(runs),
        restart_per_repeat=plan.restart_per_repeat,
        connections="new per request" if plan.new_connections else "keep-alive",
        workers_ready=workers_ready,
        requests=requests,
        failures=failures,
        rps=rps,
        rps_min=min(rates, default=None),
        rps_max=max(rates, default=None),
        rps_stdev=round(statistics.stdev(rates), 2) if len(rates) > 1 else None,
        rps_ci95=ci["rps"] and (round(ci["rps"][0], 2), round(ci["rps"][1], 2)),
        concurrency_tolerance=round(tolerance, 2) if tolerance is not None else None,
        server_requests_by_worker=by_worker,
        worker_imbalance=imbalance,
        latency_ms=latency,
        server_latency_ms=server_hist and server_hist.latency_ms(),
        server_requests=round(server_hist.count) if server_hist else None,
        server_statuses=_statuses(server_hist),
        efficiency=round(rps / plan.littles_law_rps, 3) if plan.littles_law_rps else None,
        model_rps=round(model_rps, 2),
        model=model_text,
        model_efficiency=round(rps / model_rps, 3) if model_rps else None,
        # Little's law, L = lambda x W: how many requests were in flight on average. Below the
        # number of users, the users spent time outside a request: the generator lagged.
        achieved_concurrency=round(concurrency, 2) if concurrency is not None else None,
        server_process=ProcessUse(
            cores=cores,
            cpu_percent=server_cpu,
            rss_mb=peak("rss_mb"),
            threads=peak("threads"),
            processes=peak("processes"),
        ),
        generator=GeneratorUse(
            cpu_percent=generator_cpu,
            processes=max((len(run["windows"].nodes) for run in runs), default=0),
        ),
        upstream=(
            UpstreamUse(
                cpu_percent=upstream_cpu,
                calls=round(upstream_hist.count) if upstream_hist else None,
                call_latency_ms=upstream_hist and upstream_hist.latency_ms(),
                call_statuses=_statuses(upstream_hist),
            )
            if plan.spec.uses_upstream
            else None
        ),
        errors=errors.most_common(5),
        flags=flags,
        windows=windows,
        dir=str(cell_dir.relative_to(cell_dir.parent.parent)),
    )


def _statuses(hist: scrape.Histogram | None) -> dict[str, int] | None:
    return {k: round(v) for k, v in hist.count_by_status.items() if v} if hist else None


def _process(sampler, tree: str, start: float, end: float) -> ProcessUse | None:
    use = sampler.window(tree, start, end) if sampler else None
    return ProcessUse(**use) if use else None


def _planned(plan: Experiment) -> dict:
    """A cell's fields that the plan alone sets."""
    return {
        "server": plan.server,
        "workers": plan.workers,
        "scenario": plan.scenario,
        "threads": plan.threads,
        "users": plan.users,
        "db_pool_size": plan.db_pool or None,
        "littles_law_rps": round(plan.littles_law_rps, 2),
    }


def failed_cell(plan: Experiment, error: str) -> Cell:
    """A cell that could not be measured: it still appears, with the reason."""
    return Cell(
        **_planned(plan),
        requests=0,
        failures=0,
        rps=None,
        latency_ms=None,
        server_latency_ms=None,
        efficiency=None,
        flags=["error"],
        error=error,
    )


def _by_worker(plan: Experiment, first: Boundary, last: Boundary) -> dict[str, int] | None:
    """Requests each worker (pid) completed between two reads of its metric file."""
    if first.per_process is None or last.per_process is None:
        return None
    before, after = first.per_process, last.per_process
    return {
        pid: round(counts.get(plan.spec.path, 0) - before.get(pid, {}).get(plan.spec.path, 0))
        for pid, counts in after.items()
    }


def _sum_by_worker(windows: list[Window], workers: int) -> tuple[list[int] | None, float | None]:
    """Requests per worker rank (busiest first, summed over runs: each run has its own pids;
    a worker that served none is a 0) and the mean over runs of busiest / mean worker."""
    runs: dict[int, Counter] = {}
    for w in windows:
        if w.server_requests_by_worker is not None:
            runs.setdefault(w.run, Counter()).update(w.server_requests_by_worker)
    if not runs:
        return None, None
    # Each run's counts, busiest first, with a 0 for each worker that served none.
    ranked = [sorted(c.values(), reverse=True) + [0] * (workers - len(c)) for c in runs.values()]
    ratios = [max(values) / (sum(values) / len(values)) for values in ranked if sum(values)]
    totals = [sum(values[rank] for values in ranked) for rank in range(workers)]
    return totals, (round(sum(ratios) / len(ratios), 3) if ratios else None)
