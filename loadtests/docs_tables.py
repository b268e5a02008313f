"""The documents' generated tables: the sweep's profiles with their planned durations, a stored
run's results and database figures, the metrics. Generated, so that they cannot drift from the
code or the run.

    python -m loadtests.docs_tables profiles                    # print the profiles table
    python -m loadtests.docs_tables results docs/runs/RUN_ID    # print a run's results table
    python -m loadtests.docs_tables write [RUN_DIR] [--db-capacity-run DIR]
                                                                # rewrite every generated block

A block sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``: the results in
README.md, the profiles in docs/METHOD.md, the database comparison and the database paths at
capacity in docs/DATABASE.md, the metrics (``dashboards.metrics_doc``) in docs/METRICS.md, the
sweep's commands in docs/REFERENCE.md, the capacity map in docs/CAPACITY.md, what each
instrumentation stack costs in README.md (the views) and docs/OBSERVABILITY.md (the fan-out).
A run's blocks say which stored run they show; ``write`` without a run keeps each block's own.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path

import django

from loadtests.analysis import results as results_file
from loadtests.analysis.headroom import headroom
from loadtests.analysis.records import Cell
from loadtests.analysis.results import Results
from loadtests.report import capacity as capacity_section
from loadtests.report import database, db_comparison, observability
from loadtests.report.jinja import ENV
from loadtests.report.tables import markdown_table
from loadtests.sweep import capacity_plan, db_compare, serverlife
from loadtests.sweep.cli import parse_args, parser
from loadtests.sweep.plan import PROFILES, from_args
from loadtests.sweep.progress import INITIAL_START_COST, clock
from mysite.servers import WSGI_KINDS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RUNS = Path("docs/runs")  # stored runs the documents quote (results.json only)
PROFILES_BLOCK, RESULTS_BLOCK, DB_BLOCK = "profiles", "results", "db_comparison"
DB_CAPACITY_BLOCK, METRICS_BLOCK, COMMANDS_BLOCK = "db_capacity", "metrics", "sweep_commands"
MAP_BLOCK, STACKS_BLOCK, FANOUT_STACKS_BLOCK = "capacity_map", "stack_cost", "stack_cost_fanout"
# Where each generated block lives.
DOCUMENTS = {
    PROFILES_BLOCK: ROOT / "docs" / "METHOD.md",
    RESULTS_BLOCK: README,
    DB_BLOCK: ROOT / "docs" / "DATABASE.md",
    DB_CAPACITY_BLOCK: ROOT / "docs" / "DATABASE.md",
    METRICS_BLOCK: ROOT / "docs" / "METRICS.md",
    COMMANDS_BLOCK: ROOT / "docs" / "REFERENCE.md",
    MAP_BLOCK: ROOT / "docs" / "CAPACITY.md",
    STACKS_BLOCK: README,
    FANOUT_STACKS_BLOCK: ROOT / "docs" / "OBSERVABILITY.md",
}


def planned_seconds(profile: str) -> float:
    """What the sweep's own progress estimate plans for the profile before its first cell."""
    args = parse_args(["--profile", profile])
    _, plans = from_args(args)
    cells = sum(plan.estimate(INITIAL_START_COST) for plan in plans)
    mapped = capacity_plan.plans_for(profile) if args.capacity else []
    mapped_s = sum(p.estimate(INITIAL_START_COST) for p in mapped)
    return cells + mapped_s + fixed_seconds(profile)


def fixed_seconds(profile: str) -> float:
    """The planned seconds of the phases whose length is their design (no time limit of their
    own): the database comparison and the server's life."""
    args = parse_args(["--profile", profile])
    compare = db_compare.PLANS[profile].estimate(INITIAL_START_COST) if args.db_compare else 0.0
    return compare + (serverlife.estimate(INITIAL_START_COST) if args.server_life else 0.0)


def time_limit_seconds(profile: str) -> float:
    """When the sweep stops at the latest: the cells' limit, the database comparison's and the
    server-life phase's planned lengths, then the capacity map's limit."""
    limit = PROFILES[profile].time_limit + fixed_seconds(profile)
    if parse_args(["--profile", profile]).capacity:
        limit += capacity_plan.TIME_LIMITS.get(profile, capacity_plan.TIME_LIMITS["default"])
    return limit


def commands_table() -> str:
    """The sweep's commands, what each does and its options, as its parser has them."""
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    rows = []
    for name, sub in commands.choices.items():
        shown = [a for a in sub._actions if a.help != argparse.SUPPRESS and a.dest != "help"]
        options = ", ".join(f"`{'/'.join(a.option_strings) or a.metavar}`" for a in shown)
        rows.append([f"`python -m loadtests.sweep {name}`", sub.description, options])
    return markdown_table(["command", "what it does", "its options"], rows)


def _block(macro: str, *args) -> str:
    """The block that ``docs_tables.md.j2``'s ``macro`` writes from these values."""
    return str(getattr(ENV.get_template("docs_tables.md.j2").module, macro)(*args)).strip("\n")


def profiles_table() -> str:
    commands = {"default": "make bench", "smoke": "make quick"}
    return _block(
        "profiles",
        PROFILES,
        lambda name: commands.get(name, f'make bench BENCH_ARGS="--profile {name}"'),
        lambda name: clock(planned_seconds(name)),
        lambda name: clock(time_limit_seconds(name)),
    )


def _number(rps: float) -> str:
    return f"{rps:.2g}" if rps < 10 else f"{rps:.0f}"


def _rps(cell: Cell) -> str:
    if not cell.measured:
        return "failed"
    text = _number(cell.rps)
    if cell.rps_ci95 is not None:
        text += " [{}-{}]".format(*map(_number, cell.rps_ci95))
    room = headroom(cell)
    return f"{text} ({room.share:.0%}, {room.binds})" if room and room.share is not None else text


def capacity_table(run: Results) -> str:
    """λ* of each mapped configuration, beside the two ceilings and which one binds."""
    entries = [e for e in run.capacity if not e.error and e.lambda_star_rps is not None]
    return _block("capacity", entries, _number, WSGI_KINDS) if entries else ""


def results_table(run: Results) -> str:
    by_row: dict[tuple[str, str], dict[int, Cell]] = {}
    for cell in run.cells:
        by_row.setdefault((cell.scenario, cell.server), {})[cell.workers] = cell
    workers = sorted({cell.workers for cell in run.cells})
    return _block("results", run, workers, by_row, _rps, capacity_table(run))


def db_comparison_table(run: Results) -> str | None:
    """The stored run's database comparison: its table and what it separates (None: the run
    has none)."""
    c = run.db_comparison
    if c is None or not c.windows:
        return None
    return "\n\n".join(
        [
            f"Settings: {db_comparison.design(c)}",
            markdown_table(*db_comparison.rows(c)),
            db_comparison.CONTRASTS_CAPTION,
            markdown_table(*db_comparison.contrast_rows(c)),
            db_comparison.headline(c),
        ]
    )


def db_capacity_table(run: Results) -> str | None:
    """The stored run's database paths at capacity: how it was run, what the report's database
    section says of them, and its table (None: the run mapped no database path)."""
    entries = database.entries_of(run)
    if not entries:
        return None
    settings = sorted(
        {(e.delay_s, e.slo_p99_ms, max(len(e.repeats_lambda_star_rps), 1)) for e in entries}
    )
    table = markdown_table(*database.rows(entries))
    return _block(
        "db_capacity", run, settings, database.sentences(entries), table, database.rules()
    )


def _settings(run: Results) -> str:
    """How a stored capacity run was made: its command, its searches' wait and SLO, its CPUs."""
    return _block("mapped", run, sorted({(e.delay_s, e.slo_p99_ms) for e in run.capacity}))


def capacity_map_table(run: Results) -> str | None:
    """The stored run's capacity map as the report gives it: each λ* with its interval beside
    the theory, and what the map says (None: the run mapped nothing)."""
    if not run.capacity:
        return None
    said = "\n".join(f"- {s}" for s in capacity_section.sentences(run.capacity))
    table = markdown_table(*capacity_section.rows(run.capacity))
    return "\n\n".join(part for part in (_settings(run), table, said) if part)


def stack_cost_table(*runs: Results) -> str | None:
    """The stored runs' configurations under several instrumentation stacks, side by side in
    one table (None: they mapped none under two stacks). Several runs: a configuration measured
    later (each run's entries are its own searches; a configuration is never split)."""
    entries = [entry for run in runs for entry in run.capacity]
    table = observability.rows(entries)
    if table is None:
        return None
    said = "\n".join(f"- {s}" for s in observability.sentences(entries))
    return "\n\n".join([*map(_settings, runs), markdown_table(*table), said])


def _block_pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- generated: {name} -->\n)(.*?)(<!-- end: {name} -->)", re.S)


def block(text: str, name: str) -> str | None:
    found = _block_pattern(name).search(text)
    return found.group(2).removesuffix("\n") if found else None


def shown(name: str) -> str | None:
    """What the generated block ``name`` holds now, in the document it lives in."""
    return block(DOCUMENTS[name].read_text(), name)


def rewrite(name: str, content: str) -> None:
    """Replace the generated block ``name`` in the document it lives in."""
    document, pattern = DOCUMENTS[name], _block_pattern(name)
    if not pattern.search(text := document.read_text()):
        raise ValueError(f"no generated block {name!r} in {document}")
    document.write_text(pattern.sub(lambda m: m.group(1) + content + "\n" + m.group(3), text))


def quoted_runs(name: str = RESULTS_BLOCK) -> list[Path]:
    """The stored runs that the generated block ``name`` shows now (its "From ..." line)."""
    found = re.match(r"From (.*?)\. ", shown(name) or "")
    names = re.findall(rf"`{RUNS}/([\w.-]+)`", found.group(1)) if found else []
    return [ROOT / RUNS / run for run in names]


def quoted_run(name: str = RESULTS_BLOCK) -> Path | None:
    """The stored run that the generated block ``name`` shows now (its first)."""
    return next(iter(quoted_runs(name)), None)


def _quoting(run: Path | list[Path], table: str | None) -> str | None:
    """A block from stored runs: which runs it shows, then its table (None: they have none)."""
    runs = run if isinstance(run, list) else [run]
    return table and f"From {' and '.join(f'`{RUNS / r.name}`' for r in runs)}. " + table


def write(
    run: Path | None,
    mapped_run: Path | None,
    capacity_run: list[Path] | None = None,
    stacks_run: list[Path] | None = None,
    fanout_stacks_run: list[Path] | None = None,
) -> None:
    """Rewrite every generated block; a run's blocks from ``run`` / ``mapped_run`` /
    ``capacity_run`` / ``stacks_run`` / ``fanout_stacks_run``, else from the stored run each
    block names now."""
    blocks = {PROFILES_BLOCK: profiles_table(), COMMANDS_BLOCK: commands_table()}
    if run := run or quoted_run(RESULTS_BLOCK):
        quoted = results_file.load(run / "results.json")
        blocks[RESULTS_BLOCK] = _quoting(run, results_table(quoted))
        # None when the run has no comparison: the block keeps what it says until one has.
        blocks[DB_BLOCK] = _quoting(run, db_comparison_table(quoted))
    if mapped_run := mapped_run or quoted_run(DB_CAPACITY_BLOCK):
        mapped = db_capacity_table(results_file.load(mapped_run / "results.json"))
        if mapped is None:
            raise SystemExit(f"{mapped_run} mapped no database path")
        blocks[DB_CAPACITY_BLOCK] = _quoting(mapped_run, mapped)
    for name, given, table in (
        (MAP_BLOCK, capacity_run, capacity_map_table),
        (STACKS_BLOCK, stacks_run, stack_cost_table),
        (FANOUT_STACKS_BLOCK, fanout_stacks_run, stack_cost_table),
    ):
        if quoted := given or quoted_runs(name):
            content = table(*(results_file.load(run / "results.json") for run in quoted))
            if content is None:
                raise SystemExit(f"{', '.join(map(str, quoted))} have nothing for the {name} block")
            blocks[name] = _quoting(quoted, content)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    django.setup()
    from dashboards.metrics_doc import metrics_table

    blocks[METRICS_BLOCK] = metrics_table()
    for name, content in blocks.items():
        if content is not None:
            rewrite(name, content)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.docs_tables", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "what",
        choices=(PROFILES_BLOCK, RESULTS_BLOCK, "write"),
        help="print one table, or rewrite every document's generated blocks",
    )
    parser.add_argument(
        "run", nargs="?", type=Path, help="a run directory holding results.json (default: none)"
    )
    parser.add_argument(
        "--db-capacity-run",
        type=Path,
        metavar="DIR",
        help="the stored run whose database capacity map docs/DATABASE.md shows (default: the "
        "one its block names)",
    )
    for name, what in (
        (MAP_BLOCK, "capacity map"),
        (STACKS_BLOCK, "instrumentation stacks"),
        (FANOUT_STACKS_BLOCK, "instrumentation stacks on the fan-out"),
    ):
        parser.add_argument(
            f"--{name.replace('_', '-')}-run",
            type=Path,
            nargs="+",
            metavar="DIR",
            help=f"the stored runs whose {what} {DOCUMENTS[name].name} shows (default: the "
            "ones its block names)",
        )
    args = parser.parse_args(argv)
    if args.what == PROFILES_BLOCK:
        print(profiles_table())
    elif args.what == RESULTS_BLOCK:
        if args.run is None:
            parser.error("results needs a run directory")
        print(results_table(results_file.load(args.run / "results.json")))
    else:
        write(
            args.run,
            args.db_capacity_run,
            args.capacity_map_run,
            args.stack_cost_run,
            args.stack_cost_fanout_run,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
