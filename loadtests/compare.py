"""Two runs side by side: ``python -m loadtests compare RUN_A RUN_B [--fail-if-slower PERCENT]``.

Configuration by configuration (a closed-loop cell: server, workers x threads, scenario; a
capacity entry: its configuration, a project's route in the scenario's place; each with its
instrumentation when it is not the lab's own), each measure as the ratio B / A with Welch's 95%
interval over the repeats (``stats.ratio_of_means``: the fresh run, or the fresh search, is the
independent unit). "not significant" when the interval holds 1; a side with fewer than two
repeats gives a ratio and no interval, hence no verdict.
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
from loadtests.analysis.stats import ratio_of_means
from loadtests.model.experiment import DEFAULT_STACK

# Exit codes (said in --help): a configuration got significantly slower; argparse's own is 2.
SLOWER = 1

# Each measure: its name, and which way is slower (+1: higher is slower, -1: lower is slower).
RPS, P50, P99, CPU_MS, LAMBDA = "rps", "p50 ms", "p99 ms", "CPU ms/req", "λ* rps"
SLOWER_WHEN = {RPS: -1, LAMBDA: -1, P99: +1}  # what --fail-if-slower judges
# The load a configuration ran under: compared all the same, but said when it differs.
CELL_SETUP = ("users", "delay_s", "fanout")
ENTRY_SETUP = ("delay_s", "slo_p99_ms")

Repeats = dict[str, list[float]]  # measure -> one value per fresh run or search


@dataclass(frozen=True)
class Row:
    configuration: str
    measure: str
    a: float  # the mean over A's repeats
    b: float
    ratio: float | None  # b / a
    low: float | None  # its 95% interval (None: fewer than two repeats a side)
    high: float | None
    verdict: str  # "significant", "not significant" or "no interval"

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


def load(path: Path) -> Results:
    """A run from its directory or its results.json (any schema: older ones are migrated)."""
    return results.load(path / "results.json" if path.is_dir() else path)


def _stack(instrumentation: str | None) -> str:
    """A stack other than the lab's own middleware, as the capacity map names it."""
    return f" [{instrumentation}]" if instrumentation not in (None, "", DEFAULT_STACK) else ""


def cell_repeats(cell: Cell) -> Repeats:
    """Per fresh run (its windows grouped by ``run``; an old file's are one run): the mean of its
    windows' rates and percentiles (results.json keeps each window's percentiles, not its
    timings), and the server's CPU seconds over the requests."""
    by_run = defaultdict(list)
    for window in cell.windows or []:
        by_run[window.run or 1].append(window)
    out: Repeats = defaultdict(list)
    for windows in by_run.values():
        out[RPS].append(statistics.fmean(w.rps for w in windows))
        for measure, name in ((P50, "p50"), (P99, "p99")):
            values = [getattr(w.latency_ms, name) for w in windows if w.latency_ms]
            if values and None not in values:
                out[measure].append(statistics.fmean(values))
        used = [w for w in windows if w.server_process and w.server_process.cpu_percent is not None]
        if requests := sum(w.requests for w in used):
            cpu_s = sum(w.server_process.cpu_percent / 100 * w.duration_s for w in used)
            out[CPU_MS].append(cpu_s / requests * 1000)
    return out


def entry_repeats(entry: CapacityEntry, cores: int) -> Repeats:
    """Each search's λ* and its CPU per request near λ* (``capacity.cpu_ceiling`` on its steps);
    the entry's own figures when the searches' are not all kept."""
    lambdas = [x for x in entry.repeats_lambda_star_rps if x is not None]
    if len(lambdas) < 2 or len(lambdas) != len(entry.repeats_lambda_star_rps):
        lambdas = [entry.lambda_star_rps]
    by_search = defaultdict(list)
    for step in entry.steps:
        by_search[step.repeat].append(step)
    cpu = [cpu_ceiling(steps, cores, entry.idle_cores) for steps in by_search.values()]
    cpu_ms = [c.ms_per_request for c in cpu if c is not None]
    if len(cpu_ms) < 2 and entry.limit.cpu_ms_per_request is not None:
        cpu_ms = [entry.limit.cpu_ms_per_request]
    return {LAMBDA: lambdas} | ({CPU_MS: cpu_ms} if cpu_ms else {})


def configurations(run: Results) -> dict[str, tuple[Repeats, dict]]:
    """Each configuration's repeats, and the load it ran under."""
    cores = run.meta.machine.cpus_available or run.meta.machine.cpu_count or 1
    cells = {
        "closed loop "
        + configuration_key(c.server, c.workers, c.threads, c.scenario, c.db_pool_size or 0)
        + _stack(c.instrumentation): (cell_repeats(c), {f: getattr(c, f) for f in CELL_SETUP})
        for c in run.cells
        if c.measured
    }
    return cells | {
        f"capacity {e.key}{_stack(e.instrumentation)}": (
            entry_repeats(e, cores),
            {f: getattr(e, f) for f in ENTRY_SETUP},
        )
        for e in run.capacity
        if e.is_result
    }


def row(configuration: str, measure: str, a: list[float], b: list[float]) -> Row:
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    ratio = ratio_of_means(b, a)
    if ratio is None:
        value = mean_b / mean_a if mean_a else None
        return Row(configuration, measure, mean_a, mean_b, value, None, None, "no interval")
    verdict = "significant" if ratio.significant else "not significant"
    return Row(configuration, measure, mean_a, mean_b, ratio.value, ratio.low, ratio.high, verdict)


def compare(a: Results, b: Results) -> Comparison:
    configs_a, configs_b = configurations(a), configurations(b)
    rows, differs = [], []
    for key, (repeats_a, setup_a) in configs_a.items():
        if key not in configs_b:
            continue
        repeats_b, setup_b = configs_b[key]
        rows += [row(key, m, v, repeats_b[m]) for m, v in repeats_a.items() if m in repeats_b]
        changed = [f"{f} {setup_a[f]} -> {setup_b[f]}" for f in setup_a if setup_a[f] != setup_b[f]]
        if changed:
            differs.append(f"{key}: {', '.join(changed)}")
    only_a = [key for key in configs_a if key not in configs_b]
    only_b = [key for key in configs_b if key not in configs_a]
    return Comparison(rows, only_a, only_b, differs)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.3g}" if value < 100 else f"{value:,.0f}"


def table(comparison: Comparison, percent: float | None = None) -> str:
    lines = [("configuration", "measure", "A", "B", "B/A", "95% CI", "verdict")]
    for r in comparison.rows:
        interval = f"{r.low:.3f}-{r.high:.3f}" if r.low is not None else "-"
        slower = percent is not None and r.slower_by_more_than(percent)
        verdict = f"SLOWER by more than {percent:g}%" if slower else r.verdict
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else "-"
        lines.append(
            (r.configuration, r.measure, _number(r.a), _number(r.b), ratio, interval, verdict)
        )
    widths = [max(map(len, column)) for column in zip(*lines, strict=True)]
    text = [
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]
    for side, keys in (("A", comparison.only_a), ("B", comparison.only_b)):
        text += [f"only in {side}: {key}" for key in keys]
    text += [f"load differs: {differs}" for differs in comparison.setup_differs]
    unjudged = [r for r in comparison.rows if r.low is None and r.measure in SLOWER_WHEN]
    if percent is not None and unjudged:
        text.append(
            f"--fail-if-slower cannot judge {len(unjudged)} measure(s) with no interval "
            "(one repeat on a side)"
        )
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests compare",
        description="Two runs side by side: each configuration's measures as B/A ratios with "
        "95% intervals over the repeats.",
        epilog=f"Exit status: 0, or {SLOWER} when --fail-if-slower found a configuration "
        "significantly slower (2: bad arguments or an unreadable run).",
    )
    parser.add_argument("run_a", type=Path, help="a run directory or its results.json (before)")
    parser.add_argument("run_b", type=Path, help="a run directory or its results.json (after)")
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
        runs = [load(args.run_a), load(args.run_b)]
    except (OSError, ValueError) as error:
        parser.error(str(error))
    comparison, percent = compare(*runs), args.fail_if_slower
    slower = [r for r in comparison.rows if percent is not None and r.slower_by_more_than(percent)]
    if args.json:
        print(json.dumps({**asdict(comparison), "slower": [asdict(r) for r in slower]}, indent=2))
    else:
        print(table(comparison, percent))
    return SLOWER if slower else 0
