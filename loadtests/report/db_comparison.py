"""The database section's comparison: the three paths on one server, paired by round.

From ``results.json``'s ``db_comparison`` (``loadtests.sweep.db_compare``): per path the median
over rounds of each window's rate, p50, p99, server CPU per request and threads held above idle;
then each pair of paths on each metric, as a ratio (a difference for threads) with its 95%
interval and "not significant" where the interval holds 1 (0 for a difference). Every sentence
is generated from the values.
"""

from __future__ import annotations

import statistics
from typing import NamedTuple

from loadtests.analysis.db_compare import (
    DIFFERENCE,
    METRICS,
    THREADS,
    Contrast,
    DbComparison,
    by_round,
    median_of,
)
from loadtests.analysis.stats import ratio_digits

from .jinja import Sentences
from .tables import Table, number, table

METRIC_TEXT = {
    "rps": "throughput",
    "p50_ms": "p50",
    "p99_ms": "p99",
    "server_cpu_ms_per_request": "server CPU per request",
    THREADS: "threads waiting on a socket",
}
say = Sentences("database.j2")
CONTRASTS_CAPTION = say.contrasts_caption()
TITLE = "The three paths side by side (one server, paired rounds)"


def design(c: DbComparison) -> str:
    return say.design(c)


def contrast_text(x: Contrast) -> str:
    name = METRIC_TEXT.get(x.metric, x.metric)
    digits = None if x.kind == DIFFERENCE else ratio_digits(x.low, x.high)
    return say.contrast(x, name, digits)


def per_in_flight(windows) -> float | None:
    """Socket-waiting threads per request in flight (Little's law: rate x median latency), the
    median over the path's windows."""
    ratios = [
        w.io_threads / (w.rps * w.p50_ms / 1000)
        for w in windows
        if w.io_threads is not None and w.rps and w.p50_ms
    ]
    return statistics.median(ratios) if ratios else None


def _threads_span(c: DbComparison, path: str) -> str:
    threads = list(by_round(c.windows, path, THREADS).values())
    span = number(median_of(c.windows, path, THREADS), 1)
    return span + (f" ({min(threads):.1f}-{max(threads):.1f})" if threads else "")


def rows(c: DbComparison) -> Table:
    def median(metric: str, digits: int):
        return lambda path: number(median_of(c.windows, path, metric), digits)

    def mine(path: str) -> list:
        return [w for w in c.windows if w.path == path]

    columns = (
        ("path", str),
        ("windows", lambda path: str(len(mine(path)))),
        ("req/s", median(METRICS[0], 1)),
        ("p50 ms", median(METRICS[1], 1)),
        ("p99 ms", median(METRICS[2], 1)),
        ("server CPU ms / request", median(METRICS[3], 2)),
        ("server CPU %", median("server_cpu_percent", 0)),
        ("threads waiting on a socket (min-max)", lambda path: _threads_span(c, path)),
        ("per request in flight", lambda path: number(per_in_flight(mine(path)), 2)),
        ("threads, most", median("server_threads", 0)),
        ("failures", lambda path: str(sum(w.failures for w in mine(path)))),
    )
    return table(columns, c.paths)


def _estimate(x: Contrast | None) -> str:
    """A contrast's estimate and interval as a table shows it ("n.s." where not separated)."""
    if x is None:
        return "-"
    if x.kind == DIFFERENCE:
        text = f"{x.value:+.1f} [{x.low:+.1f}, {x.high:+.1f}]"
    else:
        d = ratio_digits(x.low, x.high)
        text = f"{x.value:.{d}f}x [{x.low:.{d}f}, {x.high:.{d}f}]"
    return text + ("" if x.significant else " n.s.")


def contrast_rows(c: DbComparison) -> Table:
    """One row per pair of paths, one column per metric: the paired estimate and its interval."""
    metrics = [*METRICS, THREADS]
    header = [
        "paths",
        *[f"{METRIC_TEXT[m]} ({'a - b' if m == THREADS else 'a / b'})" for m in metrics],
    ]
    pairs: dict[tuple[str, str], dict[str, Contrast]] = {}
    for x in c.contrasts:
        pairs.setdefault((x.a, x.b), {})[x.metric] = x
    body = [
        [f"{a} / {b}", *(_estimate(by.get(m)) for m in metrics)] for (a, b), by in pairs.items()
    ]
    return header, body


def separated(c: DbComparison) -> list[Contrast]:
    return [x for x in c.contrasts if x.significant]


def sentences(c: DbComparison) -> list[str]:
    if c.error:
        return [say.not_measured(c.error)]
    failures = sum(w.failures for w in c.windows)
    return [
        say.design_sentence(design(c)),
        headline(c),
        *([say.failures(failures)] * bool(failures)),
    ]


def headline(c: DbComparison) -> str:
    """One generated sentence: what the data separate, and what they cannot (per pair)."""
    if c.error or not c.contrasts:
        return say.no_contrast()
    same: dict[tuple[str, str], list[str]] = {}
    for x in c.contrasts:
        if not x.significant:
            same.setdefault((x.a, x.b), []).append(METRIC_TEXT.get(x.metric, x.metric))
    return say.headline([contrast_text(x) for x in separated(c)], same)


def meaning(c: DbComparison) -> str:
    """What the contrasts mean for a team choosing a path, from which of them are separated."""
    apart = separated(c)
    speed = [x for x in apart if x.metric != THREADS]
    fewer = sorted({x.a for x in apart if x.metric == THREADS and x.value < 0})
    return say.meaning(speed, fewer)


class Section(NamedTuple):
    """The paired comparison as the templates lay it out (``parts.*.j2``'s ``database``)."""

    title: str
    said: list[str]
    table: Table | None  # the paths' medians, and beside them the contrasts
    caption: str
    contrasts: Table | None


def section(c: DbComparison | None) -> Section | None:
    if c is None:
        return None
    tables = (rows(c), contrast_rows(c)) if c.windows else (None, None)
    return Section(TITLE, sentences(c), tables[0], CONTRASTS_CAPTION, tables[1])
