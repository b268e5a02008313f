"""Measures of a cell beyond its rates: server percentiles at their buckets' precision,
per-worker request counts, the runs' warm-ups, the variability Little's-law check needs."""

from __future__ import annotations

import math
from collections import Counter

from loadtests.model.experiment import Experiment
from loadtests.model.latency import QUANTILES
from loadtests.model.windows import Boundary

from . import scrape
from .records import LatencyMs, Warmup, Window


def by_worker(plan: Experiment, first: Boundary, last: Boundary) -> dict[str, int] | None:
    """Requests each worker (pid) completed between two reads of its metric file."""
    if first.per_process is None or last.per_process is None:
        return None
    before, after = first.per_process, last.per_process
    return {
        pid: round(counts.get(plan.spec.path, 0) - before.get(pid, {}).get(plan.spec.path, 0))
        for pid, counts in after.items()
    }


def latency(hist: scrape.Histogram | None) -> LatencyMs | None:
    """Server percentiles, each rounded to what its bucket allows, with the bucket's bounds."""
    percentiles = hist.percentiles_ms() if hist else None
    if not percentiles:
        return None
    for key, q in QUANTILES.items():
        bounds = hist.bucket(q)
        if key not in percentiles or bounds is None:
            continue
        low, high = (b * 1000.0 for b in bounds)
        percentiles[key] = round(scrape.round_to_bucket(percentiles[key], low, high), 3)
        percentiles[f"{key}_bucket"] = (
            round(low, 3),
            round(high, 3) if math.isfinite(high) else None,
        )
    return LatencyMs(**percentiles)


def rounded(interval):
    return (round(interval[0], 2), round(interval[1], 2)) if interval else None


def warmups(runs: list[dict]) -> list[Warmup]:
    return [
        Warmup(run=n, seconds=run["windows"].warmup_s, steady=run["windows"].steady)
        for n, run in enumerate(runs, 1)
    ]


def sum_by_worker(windows: list[Window], workers: int) -> tuple[list[int] | None, float | None]:
    """Requests per worker rank (busiest first, summed over runs: each run has its own pids;
    a worker that served none is a 0) and the mean over runs of busiest / mean worker."""
    runs: dict[int, Counter] = {}
    for w in windows:
        if w.server_requests_by_worker is not None:
            runs.setdefault(w.run, Counter()).update(w.server_requests_by_worker)
    if not runs:
        return None, None
    ranked, ratios = [0] * workers, []
    for counts in runs.values():
        values = sorted(counts.values(), reverse=True)
        values += [0] * max(0, workers - len(values))
        ranked = [a + b for a, b in zip(ranked, values, strict=False)] + ranked[len(values) :]
        if sum(values):
            ratios.append(max(values) / (sum(values) / len(values)))
    return ranked, (round(sum(ratios) / len(ratios), 3) if ratios else None)
