"""The database comparison's records: the three paths in alternating windows on one server.

Pure: from the phase's raw files (``read``: its plan and schedule, the paired load's windows from
``loadtests.sweep.paired_load`` with each answer's path, time from send and arrival, and the
server's samples), one record per window over its measured span, and the paths' contrasts.
Round r holds one window of each path, back to back, so the paths of a round share the
machine's state; a contrast is paired by round (``stats.paired_ratio``, a t interval of the
rounds' log ratios), which removes the drift that separate fresh runs would add to the
comparison.
"""

from __future__ import annotations

import statistics
from collections import Counter
from itertools import combinations
from pathlib import Path

import msgspec
from msgspec import field

from loadtests.model.latency import Latency

from . import stats, usage
from .records import Count, Record, UnixSeconds

# What each window measures, and what the contrasts compare: ratios, and for the threads waiting
# on a socket (``sweep.sampler.in_io``; near 0 for a path that holds none) a difference.
METRICS = ("rps", "p50_ms", "p99_ms", "server_cpu_ms_per_request")
THREADS = "io_threads"
RATIO, DIFFERENCE = "ratio", "difference"
# The phase's raw files: the plan and schedule with the load's spec, its windows, the samples.
SPEC, LOAD, SAMPLES = "load-spec.json", "load.json", "samples.json"


class PairedWindow(Record):
    """One path's window of one round, over its measured span (after the settling time)."""

    path: str
    round: Count
    start: UnixSeconds
    end: UnixSeconds
    requests: Count
    failures: Count
    rps: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    server_cpu_ms_per_request: float | None = None
    server_cpu_percent: float | None = None
    server_threads: Count | None = None  # the most the server held in the span
    threads_above_idle: Count | None = None
    # Threads parked in a socket wait (a query's), mean over the span, above the idle server's.
    io_threads: float | None = None
    errors: dict[str, Count] | None = None


class Contrast(Record):
    """path a against path b on one metric, paired by round, with its 95% interval."""

    a: str
    b: str
    metric: str
    kind: str  # RATIO (a / b) or DIFFERENCE (a - b)
    value: float
    low: float
    high: float
    pairs: Count
    significant: bool


class DbComparison(Record):
    """The three database paths side by side on one server (``results.json``'s
    ``db_comparison``)."""

    server: str
    workers: Count
    users: Count
    delay_s: float
    rows: Count
    db_pool_size: Count  # per worker and path: above the users, so the pool never binds
    window_s: float
    settle_s: float
    rounds: Count
    paths: list[str]
    connections: str = "keep-alive"
    idle_threads: Count | None = None
    idle_io_threads: float | None = None
    windows: list[PairedWindow] = field(default_factory=list)
    contrasts: list[Contrast] = field(default_factory=list)
    error: str | None = None


def read(out_dir: Path) -> DbComparison:
    """The comparison from the phase's raw files in ``out_dir``."""
    spec = msgspec.json.decode((out_dir / SPEC).read_bytes())
    raw = msgspec.json.decode((out_dir / LOAD).read_bytes())["windows"]
    server = usage.read(out_dir / SAMPLES)["server"]
    plan, settle = spec["plan"], spec["plan"]["settle_s"]
    loaded = raw[0]["start"] if raw else float("inf")  # before it, the server was idle
    idle = min((s.threads for s in server if s.unix < loaded), default=None)
    idle_io = usage.mean_io(server, 0.0, loaded)
    windows = [
        window_of(window, name, round_, settle, server, idle, idle_io)
        for (name, round_), window in zip(spec["schedule"], raw, strict=True)
        if round_ > 0  # round 0 is the warm-up
    ]
    return DbComparison(
        **plan,
        idle_threads=idle,
        windows=windows,
        idle_io_threads=None if idle_io is None else round(idle_io, 2),
        contrasts=contrasts(windows, plan["paths"]),
    )


def window_of(
    raw: dict,
    name: str,
    round_: int,
    settle: float,
    server: list[usage.Sample],
    idle: int | None,
    idle_io: float | None,
) -> PairedWindow:
    """A paired window (of scenario ``name``) from the load's raw window (its URL path, its
    answers) and the server's samples over its measured span (``idle``: the idle server's)."""
    start, end = raw["start"] + settle, raw["end"]
    use, io = usage.window(server, start, end), usage.mean_io(server, start, end)
    mine = [a for a in raw["answers"] if a[0] == raw["path"] and a[3] >= start]
    times = Latency.of(ms for _, ms, error, _ in mine if not error)
    errors = Counter(error for _, _, error, _ in mine if error)
    requests = len(mine)
    cpu_ms = None
    if use and requests:
        cpu_ms = round(use["cpu_percent"] / 100 * (end - start) * 1000 / requests, 3)
    threads = use["threads"] if use else None
    return PairedWindow(
        path=name,
        round=round_,
        start=start,
        end=end,
        requests=requests,
        failures=sum(errors.values()),
        rps=round(requests / (end - start), 2),
        p50_ms=times.quantile(0.50),
        p99_ms=times.quantile(0.99),
        server_cpu_ms_per_request=cpu_ms,
        server_cpu_percent=use["cpu_percent"] if use else None,
        server_threads=threads,
        threads_above_idle=threads - idle if threads is not None and idle is not None else None,
        errors=dict(errors) or None,
        io_threads=None if io is None or idle_io is None else round(io - idle_io, 2),
    )


def by_round(windows: list[PairedWindow], path: str, metric: str) -> dict[int, float]:
    return {
        w.round: getattr(w, metric)
        for w in windows
        if w.path == path and getattr(w, metric) is not None
    }


def contrasts(windows: list[PairedWindow], paths: list[str]) -> list[Contrast]:
    """Each pair of paths on each metric, over the rounds both measured."""
    pairs = [(a, b) for b, a in combinations(paths, 2)]
    wanted = [(*pair, metric, RATIO) for pair in pairs for metric in METRICS]
    wanted += [(*pair, THREADS, DIFFERENCE) for pair in pairs]
    return [found for args in wanted if (found := _contrast(windows, *args))]


def _contrast(windows, a: str, b: str, metric: str, kind: str) -> Contrast | None:
    xa, xb = by_round(windows, a, metric), by_round(windows, b, metric)
    rounds = sorted(set(xa) & set(xb))
    va, vb = [xa[r] for r in rounds], [xb[r] for r in rounds]
    if kind == RATIO:
        ratio = stats.paired_ratio(va, vb)
        found = ratio and (ratio.value, ratio.low, ratio.high)
    else:
        found = stats.mean_ci95([x - y for x, y in zip(va, vb, strict=True)])
    if not found:
        return None
    value, low, high = (round(x, 4) for x in found)
    no_effect = 1.0 if kind == RATIO else 0.0
    return Contrast(
        a=a,
        b=b,
        metric=metric,
        kind=kind,
        value=value,
        low=low,
        high=high,
        pairs=len(rounds),
        significant=not found[1] <= no_effect <= found[2],
    )


def median_of(windows: list[PairedWindow], path: str, metric: str) -> float | None:
    values = list(by_round(windows, path, metric).values())
    return statistics.median(values) if values else None
