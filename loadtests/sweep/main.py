"""The sweep's run: the cells' runs one after another, then the phases, then the report.

Nothing is analysed while the load runs: the progress counts runs, each run's raw files are
written as it ends, and the cells are assembled (their statistics computed) once, after the
last run, or after Ctrl-C, a time limit or a failure, from every run measured so far.
"""

from __future__ import annotations

import contextlib
import functools
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

from . import capacity, db_compare, machine, project_capacity, serverlife
from . import cell as cells
from .cli import RENDER, RUN, Config, parse_args
from .generator import Generator, GeneratorFailed
from .hooks import beside
from .plan import Profile, from_args, route_cells
from .postgres import Postgres
from .progress import Progress, interleaved


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: stop the children, keep what was measured.

    Not an ``Exception``: a hook's or a cell's ``except Exception`` must not swallow it.
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


def measure_cells(plans, profile: Profile, ctx, record: Results, progress: Progress) -> int:
    """Every cell's runs, interleaved (A B C A B C), within the profile's time limit; the cells
    are assembled from the runs measured when it ends, whichever way it ends."""
    runs: dict[str, list[dict]] = {p.key: [] for p in plans}
    failed: dict[str, str] = {}
    started_at: dict[str, float] = {}
    deadline, code = time.monotonic() + profile.time_limit, 0
    try:
        for run_plan in progress.plans:
            key = run_plan.plan.key
            if key in failed:
                progress.skip(run_plan)
                continue
            if time.monotonic() + run_plan.estimate(progress.start_cost) > deadline:
                left = progress.plans[progress.done :]
                record.meta.skipped_cells = [p.key for p in plans if not runs[p.key]]
                record.meta.notes.append(
                    f"time limit of {profile.time_limit:g} s reached: {len(left)} run(s) "
                    f"not measured, {len(record.meta.skipped_cells)} cell(s) not at all"
                )
                record.meta.status = "time-limit"
                return 1
            progress.begin(run_plan)
            started_at.setdefault(key, time.time())
            try:
                run = cells.measure_run(run_plan.plan, ctx, run_plan.index, progress.draw)
                runs[key].append(run)
            except (ServerFailed, GeneratorFailed, OSError, ValueError) as error:
                progress.note(f"{key} failed: {error}")
                failed[key], code = str(error), 1
            progress.end(run_plan)
        return code
    finally:
        record.cells = [
            failed_cell(plan, failed[plan.key])
            if plan.key in failed
            else cells.cell_of(plan, ctx, runs[plan.key], started_at[plan.key])
            for plan in plans
            if plan.key in failed or runs[plan.key]
        ]


def run_phases(
    config: Config, profile: Profile, ctx, record: Results, save, note, project=None
) -> int:
    """The phases after the cells that the configuration asks for; 1 if one failed."""
    if config.host:  # each starts servers of its own
        return 0
    shared, code = (ctx, record, save, note), 0
    if config.db_compare:
        code = db_compare.run_phase(profile.name, *shared)
    if config.capacity and config.app:  # none without the project ready (its notes say why)
        mapped = project_capacity.run_phase(config, project, *shared) if project else 1
        code = max(code, mapped)
    elif config.capacity:
        limit, match = config.capacity_time_limit, config.capacity_match
        mapped = capacity.run_phase(
            profile.name,
            *shared,
            limit,
            match,
            repeats=config.capacity_repeats,
            stacks=config.stacks,
        )
        code = max(code, mapped)
    if config.server_life:
        code = max(code, serverlife.run_phase(ctx, record, profile.threads, save, note))
    return code


def run_meta(config: Config, argv, profile: Profile, gen: Generator, pinned: str, plans) -> RunMeta:
    target = f"servers started by the sweep on {LOOPBACK}"
    target = f"the Django project {config.app}: {target}" if config.app else target
    return RunMeta(
        run_id=config.run_id or time.strftime("%Y%m%d-%H%M%S"),
        profile=profile.name,
        parameters=Parameters(**profile.as_dict()),
        connections="keep-alive" if config.keep_alive else "new per request",
        command=" ".join(["python -m loadtests.sweep", *(argv or sys.argv[1:])]),
        started_at=machine.now_iso(),
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
        target=config.host or target,
        planned_cells=len([p for p in plans if not p.skipped]),
        skipped_cells=[],
        notes=[f"{p.key}: not measured, {p.skipped}" for p in plans if p.skipped],
    )


def _print_note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    if config.command == RENDER:
        print("\n".join(str(p) for p in report.render(config.run_dir)))
        return 0
    profile, plans = from_args(config)
    plans = plans if config.command == RUN and not config.app else []
    if not config.host and not config.app:
        # Once for the whole sweep, not at each of its server starts: bad settings stop it here.
        run_system_checks(server_environment(Path(tempfile.gettempdir())))
    hooks = beside(config)
    generator_cpus, server_cpus, pinned = pinning(config.pin and not config.host)
    gen = Generator(
        locustfile=config.locustfile or Generator.locustfile,
        local_workers=config.distributed,
        remote_workers=config.remote_workers,
        master_bind_host=config.master_bind_host,
        master_port=config.master_port or (5557 if config.remote_workers else None),
        cpus=generator_cpus,
        # The Locust exporter stays off unless a hook reads it.
        env={"LOCUST_EXPORTER_PORT": "0", **hooks.locust_env()},
    )
    meta = run_meta(config, argv, profile, gen, pinned, plans)
    started = time.time()
    plans = [p for p in plans if not p.skipped]
    run_dir = config.out / meta.run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    link_latest(config.out, run_dir)
    hooks.start(run_dir, meta)
    record = Results(schema_version=SCHEMA_VERSION, meta=meta, cells=[])
    save = functools.partial(results.write, run_dir / "results.json", record)
    save()
    project = None
    if config.app:  # made ready, and each kind's pre-flight, before the cells and the map
        project = project_capacity.prepared_routes(config, record, save, _print_note)
        routes = project_capacity.route_specs(project.measured, project.prepared) if project else []
        plans = route_cells(profile, routes, config.keep_alive) if config.command == RUN else []
        meta.planned_cells = len(plans)

    progress = Progress(interleaved(plans))
    previous = {s: signal.signal(s, _raise_interrupted) for s in STOP_SIGNALS}
    code = 0
    try:
        with contextlib.ExitStack() as stack:
            ctx = cells.Context(
                run_dir=run_dir,
                generator=gen,
                server_cpus=server_cpus,
                upstream=Upstream(stack, generator_cpus),
                database=Postgres(stack),
                external_host=config.host,
                ready_timeout=config.ready_timeout,
                on_targets=functools.partial(hooks.targets, run_dir),
            )
            stack.callback(ctx.settle)  # cells stopped in the background, on any way out
            code = measure_cells(plans, profile, ctx, record, progress)
            ctx.settle()
            for cell in record.cells:
                jobs = hooks.cell_done(run_dir, cell)
                if jobs:
                    cell.extensions = {"prometheus": jobs}
            save()
            phases = run_phases(config, profile, ctx, record, save, progress.note, project)
            code = max(code, phases, 1 if config.app and not project else 0)
    except Interrupted as signal_name:
        meta.status, code = "interrupted", 130
        progress.note(f"{signal_name}: stopped every child process; keeping what was measured")
    except Exception as error:
        meta.status, code = "failed", 1
        meta.notes.append(f"the sweep failed: {error!r}")
        progress.note(traceback.format_exc())
        progress.note("stopped every child process; keeping what was measured")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        progress.close()
        if meta.status == "running":
            meta.status = "complete-with-errors" if code == 1 else "complete"
        meta.ended_at = machine.now_iso()
        meta.duration_s = round(time.time() - started, 1)
        panels = hooks.finish(run_dir, record)
        if panels:
            record.panels = [*(record.panels or []), *panels]
        meta.notes += [f"hook failed: {e}" for e in hooks.errors]
        save()
        paths = report.render(run_dir)
    print((run_dir / "summary.md").read_text())
    print(f"Report: {paths[-1]}  ({meta.duration_s:.0f} s, status {meta.status})")
    return code
