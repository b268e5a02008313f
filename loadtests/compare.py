"""Two runs side by side: ``python -m loadtests compare RUN_A RUN_B [--fail-if-slower PERCENT]``.

Configuration by configuration (a closed-loop cell: server, workers x threads, scenario; a
capacity entry: its configuration, a project's route in the scenario's place; each with its
instrumentation when it is not the lab's own), each measure as
the ratio B / A with Welch's 95% interval over the repeats (``stats.ratio_of_means``: the fresh
run, or the fresh search, is the independent unit). "not significant" when the interval holds 1;
a side with fewer than two repeats gives a ratio and no interval, hence no verdict.

A cell's repeat values come from its windows grouped by ``run``: the mean of their rates, of
their percentiles (results.json keeps each window's percentiles, not its timings), and the CPU
seconds over the requests. A capacity entry's: each search's λ* and its CPU per request near
λ* (``capacity.cpu_ceiling`` on that search's steps).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from loadtests.analysis import results
from loadtests.analysis.capacity import CapacityEntry, configuration_key, cpu_ceiling
from loadtests.analysis.records import Cell
from loadtests.analysis.results import Results
from loadtests.analysis.stats import Ratio, ratio_of_means
from loadtests.model.experiment import DEFAULT_STACK

# Exit codes (said in --help): a configuration got significantly slower; argparse's own is 2.
SLOWER = 1

# Each measure: its name, and which way is slower (+1: higher is slower, -1: lower is slower).
RPS, P50, P99, CPU_MS, LAMBDA = "rps", "p50 ms", "p99 ms", "CPU ms/req", "λ* rps"
SLOWER_WHEN = {RPS: -1, LAMBDA: -1, P99: +1}  # what --fail-if-slower judges

Repeats = dict[str, list[float]]  # measure -> one value per fresh run or search


@dataclass(frozen=True)
class Row:
    configuration: str
    measure: str
    a: float | None  # the mean over A's repeats
    b: float | None
    ratio: float | None  # b / a
    low: float | None  # its 95% interval (None: fewer than two repeats a side)
    high: float | None
    verdict: str  # "significant", "not significant", "no interval", or SLOWER's text

    def slower_by_more_than(self, percent: float) -> bool:
        """The whole interval beyond the threshold, on the slower side."""
        way = SLOWER_WHEN.get(self.measure)
        if way is None or self.low is None:
            return False
        return self.high < 1 - percent / 100 if way < 0 else self.low > 1 + percent / 100


@dataclass(frozen=True)
class Comparison:
    rows: list[Row]
    only_a: list[str]
    only_b: list[str]
    # Configurations compared although their load differed: "KEY: users 32 -> 64".
    setup_differs: list[str]


def _cell_key(cell: Cell) -> str:
    key = "closed loop " + configuration_key(
        cell.server, cell.workers, cell.threads, cell.scenario, cell.db_pool_size or 0
    )
    return key + _stack(cell.instrumentation)


def _entry_key(entry: CapacityEntry) -> str:
    return f"capacity {entry.key}{_stack(entry.instrumentation)}"


def _stack(instrumentation: str | None) -> str:
    """A stack other than the lab's own middleware, as the capacity map names it."""
    return f" [{instrumentation}]" if instrumentation not in (None, "", DEFAULT_STACK) else ""


def cell_repeats(cell: Cell) -> Repeats:
    by_run = defaultdict(list)
    for window in cell.windows or []:
        by_run[window.run or 1].append(window)
    if len(by_run) < 2:  # one run (or an old file): the cell's pooled figures, no interval
        return _pooled(cell)
    out: Repeats = defaultdict(list)
    for windows in by_run.values():
        out[RPS].append(statistics.fmean(w.rps for w in windows))
        for measure, name in ((P50, "p50"), (P99, "p99")):
            values = [getattr(w.latency_ms, name) for w in windows if w.latency_ms]
            if values and None not in values:
                out[measure].append(statistics.fmean(values))
        used = [w for w in windows if w.server_process and w.server_process.cpu_percent is not None]
        requests = sum(w.requests for w in used)
        if requests:
            cpu_s = sum(w.server_process.cpu_percent / 100 * w.duration_s for w in used)
            out[CPU_MS].append(cpu_s / requests * 1000)
    return out


def _pooled(cell: Cell) -> Repeats:
    latency = cell.latency_ms
    values = {
        RPS: cell.rps,
        P50: latency.p50 if latency else None,
        P99: latency.p99 if latency else None,
        CPU_MS: cell.server_process.cpu_percent * 10 / cell.rps  # % of a core -> ms per request
        if cell.server_process and cell.server_process.cpu_percent is not None and cell.rps
        else None,
    }
    return {measure: [value] for measure, value in values.items() if value is not None}


def entry_repeats(entry: CapacityEntry, cores: int) -> Repeats:
    lambdas = [x for x in entry.repeats_lambda_star_rps if x is not None]
    if len(lambdas) < 2 or len(lambdas) != len(entry.repeats_lambda_star_rps):
        lambdas = [entry.lambda_star_rps]
    out: Repeats = {LAMBDA: lambdas}
    by_search = defaultdict(list)
    for step in entry.steps:
        by_search[step.repeat].append(step)
    cpu = [cpu_ceiling(steps, cores, entry.idle_cores) for steps in by_search.values()]
    cpu_ms = [c.ms_per_request for c in cpu if c is not None]
    if len(cpu_ms) < 2 and entry.limit.cpu_ms_per_request is not None:
        cpu_ms = [entry.limit.cpu_ms_per_request]
    if cpu_ms:
        out[CPU_MS] = cpu_ms
    return out


# The load a configuration ran under: compared all the same, but said when it differs.
CELL_SETUP = ("users", "delay_s", "fanout")
ENTRY_SETUP = ("delay_s", "slo_p99_ms")


def configurations(run: Results) -> dict[str, tuple[Repeats, dict]]:
    """Each configuration's repeats, and the load it ran under."""
    cores = run.meta.machine.cpus_available or run.meta.machine.cpu_count or 1
    out = {
        _cell_key(c): (cell_repeats(c), {f: getattr(c, f) for f in CELL_SETUP})
        for c in run.cells
        if c.measured
    }
    return out | {
        _entry_key(e): (entry_repeats(e, cores), {f: getattr(e, f) for f in ENTRY_SETUP})
        for e in run.capacity
        if e.is_result
    }


def row(configuration: str, measure: str, a: list[float], b: list[float]) -> Row:
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    ratio: Ratio | None = ratio_of_means(b, a)
    if ratio is None:
        value = mean_b / mean_a if mean_a else None
        return Row(configuration, measure, mean_a, mean_b, value, None, None, "no interval")
    verdict = "significant" if ratio.significant else "not significant"
    return Row(configuration, measure, mean_a, mean_b, ratio.value, ratio.low, ratio.high, verdict)


def compare(a: Results, b: Results) -> Comparison:
    configs_a, configs_b = configurations(a), configurations(b)
    both = [key for key in configs_a if key in configs_b]
    rows = [
        row(key, measure, values, configs_b[key][0][measure])
        for key in both
        for measure, values in configs_a[key][0].items()
        if measure in configs_b[key][0]
    ]
    differs = []
    for key in both:
        (_, setup_a), (_, setup_b) = configs_a[key], configs_b[key]
        changed = [f"{f} {setup_a[f]} -> {setup_b[f]}" for f in setup_a if setup_a[f] != setup_b[f]]
        if changed:
            differs.append(f"{key}: {', '.join(changed)}")
    only_a = [key for key in configs_a if key not in configs_b]
    only_b = [key for key in configs_b if key not in configs_a]
    return Comparison(rows, only_a, only_b, differs)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.3g}" if value < 100 else f"{value:,.0f}"


def table(comparison: Comparison, percent: float | None = None) -> str:
    lines = []
    head = ("configuration", "measure", "A", "B", "B/A", "95% CI", "verdict")
    body = []
    for r in comparison.rows:
        interval = f"{r.low:.3f}-{r.high:.3f}" if r.low is not None else "-"
        verdict = r.verdict
        if percent is not None and r.slower_by_more_than(percent):
            verdict = f"SLOWER by more than {percent:g}%"
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else "-"
        body.append(
            (r.configuration, r.measure, _number(r.a), _number(r.b), ratio, interval, verdict)
        )
    widths = [max(len(str(line[i])) for line in [head, *body]) for i in range(len(head))]
    for line in [head, *body]:
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
    for side, keys in (("A", comparison.only_a), ("B", comparison.only_b)):
        lines += [f"only in {side}: {key}" for key in keys]
    lines += [f"load differs: {text}" for text in comparison.setup_differs]
    unjudged = [r for r in comparison.rows if r.low is None and r.measure in SLOWER_WHEN]
    if percent is not None and unjudged:
        lines.append(
            f"--fail-if-slower cannot judge {len(unjudged)} measure(s) with no interval "
            "(one repeat on a side)"
        )
    return "\n".join(lines)


def _load(path: str) -> Results:
    p = Path(path)
    return results.load(p / "results.json" if p.is_dir() else p)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests compare",
        description="Two runs side by side: each configuration's measures as B/A ratios with "
        "95% intervals over the repeats.",
        epilog=f"Exit status: 0, or {SLOWER} when --fail-if-slower found a configuration "
        "significantly slower (2: bad arguments or an unreadable run).",
    )
    parser.add_argument("run_a", help="a run directory or its results.json (before)")
    parser.add_argument("run_b", help="a run directory or its results.json (after)")
    parser.add_argument(
        "--fail-if-slower",
        type=float,
        metavar="PERCENT",
        help=f"exit {SLOWER} when λ* or rps fell, or p99 rose, by more than PERCENT "
        "with the whole 95%% interval beyond it",
    )
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    args = parser.parse_args(argv)
    try:
        comparison = compare(_load(args.run_a), _load(args.run_b))
    except (OSError, ValueError) as error:
        parser.error(str(error))
    percent = args.fail_if_slower
    slower = [r for r in comparison.rows if percent is not None and r.slower_by_more_than(percent)]
    if args.json:
        print(json.dumps({**asdict(comparison), "slower": [asdict(r) for r in slower]}, indent=2))
    else:
        print(table(comparison, percent))
    return SLOWER if slower else 0
