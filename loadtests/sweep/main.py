"""The sweep's run: cells one after another, results.json after each, the report at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from loadtests import report
from loadtests.analysis import results
from loadtests.analysis.assemble import failed_cell
from loadtests.analysis.records import SCHEMA_VERSION, GeneratorMode, Parameters, RunMeta
from loadtests.analysis.results import Results
from mysite.launcher import LOOPBACK, ServerFailed, run_system_checks, server_environment

from . import capacity, db_compare, machine, serverlife
from . import cell as cells
from .cli import parse_args
from .generator import Generator, GeneratorFailed
from .plan import from_args
from .postgres import Postgres
from .progress import Progress, interleaved


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: stop the children, keep what was measured.

    Not an ``Exception``: the Prometheus hook's or a cell's ``except Exception`` must not
    swallow it.
    """


def pinning(enabled: bool) -> tuple[frozenset[int] | None, frozenset[int] | None, str]:
    """CPUs for the generator (and upstream), CPUs for the server, and what was done, in words."""
    cpus = sorted(os.sched_getaffinity(0))
    if not enabled or len(cpus) < 2:
        return None, None, "none: every process may run on any CPU"
    generator, server = frozenset(cpus[:1]), frozenset(cpus[1:])
    return (
        generator,
        server,
        f"Locust and the upstream on CPU {cpus[0]}; the server on CPU(s) "
        f"{', '.join(map(str, cpus[1:]))}",
    )


class Upstream:
    """The fan-out scenarios' upstream: started on first use, restarted if it died."""

    def __init__(self, stack: contextlib.ExitStack, cpus) -> None:
        self.stack, self.cpus = stack, cpus
        self.running = None

    def __call__(self):
        from loadtests.upstream_server import serve_upstream

        if self.running is None or self.running.process.poll() is not None:
            self.running = self.stack.enter_context(
                serve_upstream(cpus=set(self.cpus) if self.cpus else None)
            )
        return self.running


class Beside:
    """The Prometheus beside the sweep, if on: when it fails it is noted and turned off, and the
    measurement goes on without it."""

    def __init__(self, on: bool) -> None:
        self.hook = None
        if on:
            from loadtests.prometheus.hook import PrometheusHook

            self.hook = PrometheusHook()
        self.errors: list[str] = []

    def __call__(self, method: str, *args, default=None):
        if self.hook is None:
            return default
        try:
            return getattr(self.hook, method)(*args)
        except Exception as error:
            self.errors.append(f"prometheus.{method}: {error!r}")
            print(traceback.format_exc(), file=sys.stderr, flush=True)
            self.hook = None
            return default


def beside(args) -> Beside:
    """The Prometheus, unless turned off or measuring a host the sweep did not start."""
    return Beside(args.prometheus and not args.host)


def link_latest(out: Path, run_dir: Path) -> None:
    latest = out / "latest"
    tmp = out / f".latest-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, latest)


def _raise_interrupted(signum, _frame):
    # Once: a second Ctrl-C must not cut short the stopping that follows, or the sweep would
    # exit while a server still finishes its requests.
    for other in STOP_SIGNALS:
        signal.signal(other, _still_stopping)
    raise Interrupted(signal.Signals(signum).name)


# Ctrl-C, kill, and a closed terminal all stop the sweep the same clean way.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _still_stopping(signum, _frame):
    name = signal.Signals(signum).name
    print(f"{name} again: still stopping every child process", file=sys.stderr, flush=True)


def _cells(plans, ctx, runs, failed, started_at) -> list:
    """Every cell with a run or a failure so far, in the plan's order."""
    out = []
    for plan in plans:
        if plan.key in failed:
            out.append(failed_cell(plan, failed[plan.key]))
        elif runs[plan.key]:
            out.append(cells.cell_of(plan, ctx, runs[plan.key], started_at[plan.key]))
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render_only:
        paths = report.render(args.render_only)
        print("\n".join(str(p) for p in paths))
        return 0
    profile, plans = from_args(args)
    if args.capacity_only or args.server_life_only:
        plans = []
    skipped, plans = [p for p in plans if p.skipped], [p for p in plans if not p.skipped]
    if not args.host:
        # Once for the whole sweep, not at each of its server starts: bad settings stop it here.
        run_system_checks(server_environment(Path(tempfile.gettempdir())))
    run_id = args.run_id or time.strftime("%Y%m%d-%H%M%S")
    run_dir = args.out / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    link_latest(args.out, run_dir)
    results_path = run_dir / "results.json"

    prometheus = beside(args)
    generator_cpus, server_cpus, pinned = pinning(args.pin and not args.host)
    gen = Generator(
        locustfile=args.locustfile or Generator.locustfile,
        local_workers=args.distributed,
        remote_workers=args.remote_workers,
        master_bind_host=args.master_bind_host,
        master_port=args.master_port or (5557 if args.remote_workers else None),
        cpus=generator_cpus,
        # The Locust exporter stays off unless the Prometheus reads it.
        env={"LOCUST_EXPORTER_PORT": "0", **prometheus("locust_env", default={})},
    )
    started = time.time()
    meta = RunMeta(
        run_id=run_id,
        profile=profile.name,
        parameters=Parameters(**profile.as_dict()),
        connections="keep-alive" if args.keep_alive else "new per request",
        command=" ".join(["python -m loadtests.sweep", *(argv or sys.argv[1:])]),
        started_at=machine.now_iso(started),
        ended_at=None,
        status="running",
        machine=machine.machine(),
        versions=machine.versions(),
        git=machine.git_state(),
        pinning=pinned,
        generator=GeneratorMode(
            mode="distributed" if gen.distributed else "local",
            local_workers=gen.local_workers,
            remote_workers=gen.remote_workers,
        ),
        target=args.host or f"servers started by the sweep on {LOOPBACK}",
        planned_cells=len(plans),
        skipped_cells=[],
        notes=[f"{p.key}: not measured, {p.skipped}" for p in skipped],
    )
    prometheus("start", run_dir, meta)
    record = Results(schema_version=SCHEMA_VERSION, meta=meta, cells=[])
    results.write(results_path, record)

    progress = Progress(interleaved(plans))
    previous = {s: signal.signal(s, _raise_interrupted) for s in STOP_SIGNALS}
    status, code = "complete", 0
    try:
        with contextlib.ExitStack() as stack:
            ctx = cells.Context(
                run_dir=run_dir,
                generator=gen,
                server_cpus=server_cpus,
                upstream=Upstream(stack, generator_cpus),
                database=Postgres(stack),
                external_host=args.host,
                ready_timeout=args.ready_timeout,
                on_targets=lambda cell, targets: prometheus("targets", run_dir, cell, targets),
            )
            stack.callback(ctx.settle)  # cells stopped in the background, on any way out
            deadline = time.monotonic() + profile.time_limit
            runs: dict[str, list[dict]] = {p.key: [] for p in plans}
            failed: dict[str, str] = {}
            started_at: dict[str, float] = {}
            for run_plan in progress.plans:  # interleaved: A B C A B C
                cell_plan = run_plan.plan
                if cell_plan.key in failed:
                    progress.skip(run_plan)
                    continue
                if time.monotonic() + run_plan.estimate(progress.start_cost) > deadline:
                    left = progress.plans[progress.done :]
                    meta.skipped_cells = [p.key for p in plans if not runs[p.key]]
                    meta.notes.append(
                        f"time limit of {profile.time_limit:g} s reached: {len(left)} run(s) "
                        f"not measured, {len(meta.skipped_cells)} cell(s) not at all"
                    )
                    status, code = "time-limit", 1
                    break
                progress.begin(run_plan)
                started_at.setdefault(cell_plan.key, time.time())
                try:
                    runs[cell_plan.key].append(
                        cells.measure_run(cell_plan, ctx, run_plan.index, progress.draw)
                    )
                except (ServerFailed, GeneratorFailed, OSError, ValueError) as error:
                    progress.note(f"{run_plan.key} failed: {error}")
                    failed[cell_plan.key] = str(error)
                    code = 1
                progress.end(run_plan)
                record.cells = _cells(plans, ctx, runs, failed, started_at)
                results.write(results_path, record)
            ctx.settle()
            for cell in record.cells:
                jobs = prometheus("cell_done", run_dir, cell)
                if jobs:
                    cell.extensions = {"prometheus": jobs}
            results.write(results_path, record)
            if args.db_compare and not args.host:
                compared = db_compare.run_phase(
                    profile.name,
                    ctx,
                    record,
                    lambda: results.write(results_path, record),
                    progress.note,
                )
                code = max(code, compared)
            if (args.capacity or args.capacity_only) and not args.host:
                mapped = capacity.run_phase(
                    profile.name,
                    ctx,
                    record,
                    lambda: results.write(results_path, record),
                    progress.note,
                    args.capacity_time_limit,
                    args.capacity_match,
                    repeats=args.capacity_repeats,
                )
                code = max(code, mapped)
            if (args.server_life or args.server_life_only) and not args.host:
                lived = serverlife.run_phase(
                    ctx,
                    record,
                    profile.threads,
                    lambda: results.write(results_path, record),
                    progress.note,
                )
                code = max(code, lived)
    except Interrupted as signal_name:
        status, code = "interrupted", 130
        progress.note(f"{signal_name}: stopped every child process; keeping what was measured")
    except Exception as error:
        status, code = "failed", 1
        meta.notes.append(f"the sweep failed: {error!r}")
        progress.note(traceback.format_exc())
        progress.note("stopped every child process; keeping what was measured")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        progress.close()
        meta.status = status if code != 1 or status != "complete" else "complete-with-errors"
        meta.ended_at = machine.now_iso()
        meta.duration_s = round(time.time() - started, 1)
        panels = prometheus("finish", run_dir, record)
        if panels:
            record.panels = [*(record.panels or []), *panels]
        meta.notes += [f"hook failed: {e}" for e in prometheus.errors]
        results.write(results_path, record)
        paths = report.render(run_dir)
    print((run_dir / "summary.md").read_text())
    print(f"Report: {paths[-1]}  ({meta.duration_s:.0f} s, status {meta.status})")
    return code
