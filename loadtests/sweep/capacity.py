"""The capacity phase: for each configuration, a fresh server and a capacity search in Locust.

Per repeat: start the server (``mysite.launcher``), wait for every worker, pin it to the
server's CPUs, sample its CPU (``sweep.sampler``), and run Locust pinned to the generator's CPU
with ``--arrival-rate`` and ``--capacity-slo-ms`` (``loadtests.plugins.open_model``), which steps
the rate up and bisects by itself and writes its steps. Each step's server CPU comes from the
sampler's readings strictly inside the step's steady part (its warm-up and drain left out); the
idle server's, from the readings before the first step. ``analysis.capacity`` turns the steps
into λ*, its bracket and the limit that binds. Repeats are fresh servers with fresh seeds: the
base seed (``--arrival-seed``) derives from the run, the configuration and the repeat
(``arrival_seed``) and is stored with the search; λ* gets Student's t interval over them.

The database paths need PostgreSQL: the phase starts the lab's own (``mysite.db.cluster``,
migrated and seeded) once, when a database plan is to run, unless ``DATABASE_URL`` names
another; each server gets its address and the plan's ``DB_POOL_SIZE``. A configuration a path
cannot run (the native path under a WSGI kind) is recorded as skipped, with the reason.

A project's route (``make bench APP=``, ``sweep.project_capacity`` plans it) is searched the same
way, with the project's server (``loadtests.project.servers``) and Locust's route user, told the
route by ``LAB_ROUTE``; its entry carries, beside λ*, what ``analysis.prediction`` predicts from
its service time S and the CPU per request the search measured, as written and if it were async.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import statistics
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec

from loadtests.analysis.capacity import (
    CapacityEntry,
    CapacityLimit,
    RoutePrediction,
    binding_limit,
    cpu_ceiling,
    database_cpu_ms,
)
from loadtests.analysis.lambda_star import combine, measurement_error, saturation_rps, theory
from loadtests.analysis.prediction import RouteCost, predict, server_cores
from loadtests.analysis.results import Results
from loadtests.observability.hops import hops_per_request
from loadtests.observability.stacks import prepared
from loadtests.plugins.search import MAX_STEP_S, MAX_WARMUP_S
from loadtests.project import servers as project_servers
from loadtests.scenarios import ASYNC
from mysite.db import cluster as pg
from mysite.launcher import ServerFailed, free_port, serve
from mysite.servers import WSGI_KINDS

from . import generator, phase
from .capacity_plan import MAX_RPS, TIME_LIMITS, CapacityPlan, matching, plans_for, under_stacks
from .capacity_steps import arrival_seed, idle_use, search_record, step_record
from .cell import Context, server_env, wait_for_processes, wait_for_workers
from .generator import GeneratorFailed
from .sampler import TreeSampler, pin_tree

SEARCH_MARGIN_S = 120.0  # Locust's own time limit beyond what the steps should take
WARM_TIMEOUT_S = 10.0
START_COST_S = 5.0  # a fresh server's start, for the time estimate


def warm_database(url: str, plan: CapacityPlan) -> None:
    """Open every worker's pool before the search: pools open on first use, and a first step
    that pays for the connections fails for a reason the steady state does not have."""
    count = 2 * plan.workers * plan.db_pool
    target = f"{url}{plan.spec.path}?delay={plan.delay:g}"

    def get(_: int) -> None:
        with urllib.request.urlopen(target, timeout=WARM_TIMEOUT_S) as response:
            response.read()

    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(get, range(count)))  # an error raises: the server cannot serve the path


def locust_argv(
    gen: generator.Generator,
    plan: CapacityPlan,
    host: str,
    out: Path,
    seed: int = 1,
    port: int | None = None,
) -> list[str]:
    """Locust's command line for one search; a distributed generator's master, on ``port``,
    splits each step's rate across its workers."""
    # Locust's own limit, past any search the step budget allows: each step a warm-up and
    # its longest judged part.
    limit = SEARCH_MARGIN_S + plan.calibrate_s + plan.max_steps * (MAX_WARMUP_S + MAX_STEP_S)
    options = {
        "--headless": True,
        "--only-summary": True,
        "--loglevel": "INFO",
        "-u": "1",
        "-r": "1",
        "-t": f"{round(limit)}s",
        "--host": host,
        "--delay": f"{plan.delay:g}",
        "--fanout": str(plan.fanout),
        "--arrival-rate": f"{plan.start_rps:g}",
        "--arrival-out": str(out),
        "--arrival-seed": str(seed),
        "--capacity-start": plan.first_rps and f"{plan.first_rps:g}",
        "--capacity-ceiling": plan.slot_ceiling and f"{plan.slot_ceiling:g}",
        "--capacity-slo-ms": f"{plan.slo_p99_ms:g}",
        "--capacity-max": f"{MAX_RPS:g}",
        "--capacity-growth": f"{plan.growth:g}",
        "--capacity-precision": f"{plan.precision:g}",
        "--capacity-min-requests": str(plan.min_requests),
        "--capacity-min-step": f"{plan.min_step_s:g}",
        "--capacity-max-steps": str(plan.max_steps),
        "--capacity-step-requests": str(plan.step_requests),
        "--capacity-edge-tests": str(plan.edge_tests),
        "--capacity-max-edge-tests": str(plan.max_edge_tests),
        "--capacity-calibrate": f"{plan.calibrate_s:g}",
        "--master": gen.distributed,
        "--master-bind-host": gen.distributed and gen.master_bind_host,
        "--master-bind-port": gen.distributed and str(port),
        "--expect-workers": gen.distributed and str(gen.local_workers + gen.remote_workers),
        "--expect-workers-max-wait": gen.distributed and str(generator.WORKERS_JOIN_TIMEOUT),
    }
    return [*generator._locust(gen), *generator._options(options), plan.spec.user_class]


def postmaster_pid(env: dict[str, str]) -> int | None:
    """The lab's PostgreSQL's postmaster, from the Unix-socket DATABASE_URL the servers get (its
    data directory beside the socket's): sampled with its backends, so a database path's CPU is
    counted. None for another database (TCP, or not this lab's)."""
    url = env.get("DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
    hosts = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("host", [])
    if not hosts or not hosts[0].startswith("/"):
        return None
    pid_file = Path(hosts[0]).parent / "data" / "postmaster.pid"
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def _server(plan: CapacityPlan, ctx: Context, log_dir: Path, db_env: dict[str, str]):
    """A fresh server for the plan, every worker up, and the processes to sample: a project's
    route's, the project's; the lab's, under the plan's stack (with a fresh OTLP receiver when
    it exports) and, for a database path, its pools open and PostgreSQL sampled beside it."""
    if plan.route:
        project = plan.route.project
        wsgi_app = project.description.wsgi_application
        args = (plan.server, plan.workers, plan.threads, ctx.ready_timeout)
        with project_servers.serve(project.shim, wsgi_app, *args) as server:
            wait_for_processes(server.pid, plan.workers)
            yield server, {"server": server.pid}
        return
    with prepared(plan.instrumentation) as stack:
        if stack.receiver_pid and ctx.generator.cpus:  # a collector runs off the server's cores
            pin_tree(stack.receiver_pid, ctx.generator.cpus)
        # The fan-outs call the sweep's upstream (started on first use), as a cell's do.
        upstream = ctx.upstream() if plan.spec.uses_upstream and ctx.upstream else None
        upstream_url = f"{upstream.url}/api/" if upstream is not None else None
        database = db_env if plan.uses_database else None
        env = server_env(plan, upstream_url, database) | stack.env
        options = {"threads": plan.threads, "env": env, "log_dir": log_dir}
        options |= {"system_checks": False, "ready_timeout": ctx.ready_timeout}
        with serve(plan.server, plan.workers, **options) as server:
            wait_for_workers(server.url, plan.workers)
            roots = {"server": server.pid}
            if upstream is not None:
                roots["upstream"] = upstream.pid
            if plan.uses_database:
                warm_database(server.url, plan)
                if database_pid := postmaster_pid(env):
                    roots["database"] = database_pid
            yield server, roots


def search(
    plan: CapacityPlan, ctx: Context, out: Path, db_env: dict[str, str], seed: int
) -> tuple[dict, TreeSampler]:
    """One fresh server and one search in Locust: its JSON and the server's CPU samples."""
    gen = ctx.generator
    if plan.route:
        gen = generator.told_route(gen, plan.route.load)
    log = out.with_name(f"{out.stem}-locust.log")
    with _server(plan, ctx, out.parent, db_env) as (server, roots):
        if ctx.server_cpus:
            pin_tree(server.pid, ctx.server_cpus)
        ctx.settle()
        port = gen.master_port or free_port()
        argv = locust_argv(gen, plan, server.url, out, seed, port)
        with TreeSampler(roots) as sampler:
            processes = [generator._start(argv, log, gen)]
            for index in range(gen.local_workers):
                worker_log = out.with_name(f"{out.stem}-locust-worker{index + 1}.log")
                processes.append(
                    generator._start(generator.worker_argv(gen, port), worker_log, gen)
                )
            try:
                processes[0].wait()
            finally:
                for process in reversed(processes):
                    generator.stop_process_group(process, grace=5)
    if not out.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise GeneratorFailed(f"Locust exited with {processes[0].returncode}, no steps:\n{tail}")
    return json.loads(out.read_text()), sampler


def measure(
    plan: CapacityPlan, ctx: Context, db_env: dict[str, str] | None = None
) -> CapacityEntry:
    """λ* of ``plan`` from its fresh searches."""
    cores = len(ctx.server_cpus) if ctx.server_cpus else len(os.sched_getaffinity(0))
    plan_dir = ctx.run_dir / "capacity" / plan.slug
    plan_dir.mkdir(parents=True, exist_ok=True)
    searches, steps, idle_threads, idle_cores = [], [], None, []
    for repeat in range(1, plan.repeats + 1):
        seed = arrival_seed(ctx.run_dir.name, plan.key, repeat)
        raw, sampler = search(plan, ctx, plan_dir / f"search{repeat}.json", db_env or {}, seed)
        steps += [step_record(step, repeat, sampler) for step in raw["steps"]]
        searches.append(search_record(raw, repeat, seed))
        threads, idle = idle_use(raw, sampler)
        idle_threads = threads if repeat == 1 else idle_threads
        idle_cores += [idle] if idle is not None else []
    lambda_star, bracket, ci = combine(searches)
    idle = statistics.fmean(idle_cores) if idle_cores else None
    lower = any(s.lower_bound for s in searches)
    stopped = "; ".join(dict.fromkeys(s.stopped_because for s in searches if s.stopped_because))
    cpu = cpu_ceiling(steps, cores, idle)
    entry = msgspec.structs.replace(
        unmeasured(plan),
        lambda_star_rps=lambda_star,
        lambda_star_bracket=bracket,
        limit=binding_limit(lambda_star, plan.model(), cpu, lower, plan.model_binds),
        steps=steps,
        stopped_because=stopped,
        min_step_requests=plan.min_requests,
        repeats_lambda_star_rps=[s.lambda_star_rps for s in searches],
        lambda_star_ci95=ci,
        idle_threads=idle_threads,
        repeats=len(searches),
        searches=searches,
        lower_bound=lower,
        idle_cores=None if idle is None else round(idle, 5),
    )
    # The hops the stack's middleware makes Django pay, counted on the lab's own views.
    if plan.server not in WSGI_KINDS and plan.route is None:
        entry.thread_hops = hops_per_request(plan.instrumentation, plan.spec.path)
    if plan.uses_database and (ms := database_cpu_ms(steps)) is not None:
        entry.limit.database_cpu_ms_per_request = round(ms, 4)
        entry.limit.sentence += f"; PostgreSQL used {ms:.2f} ms of CPU per request besides"
    slots, _ = plan.slots()
    entry.theory = theory(entry, slots, plan.service_s)
    return entry


def unmeasured(plan: CapacityPlan, error: str = "", skipped: str = "") -> CapacityEntry:
    """The entry's fields that the plan fixes, nothing measured: a failed or skipped
    configuration's entry, and what a search's results replace."""
    model, text = plan.model()
    return CapacityEntry(
        server=plan.server,
        workers=plan.workers,
        threads=plan.threads,
        scenario=plan.scenario,
        variant=plan.variant,
        delay_s=plan.delay,
        slo_p99_ms=plan.slo_p99_ms,
        db_pool_size=plan.db_pool,
        instrumentation=plan.instrumentation,
        route=plan.scenario if plan.route else None,
        lambda_star_rps=None,
        lambda_star_bracket=[None, None],
        limit=CapacityLimit(
            binds=None,
            model_rps=model,
            model=text,
            cpu_rps=None,
            cpu_ms_per_request=None,
            share=None,
            sentence=f"not applicable: {skipped}" if skipped else "not measured",
        ),
        steps=[],
        error=error or None,
        skipped=skipped,
        repeats=plan.repeats,
    )


def predicted(entry: CapacityEntry, plan: CapacityPlan, run: Results) -> RoutePrediction | None:
    """Beside a project's route's λ*: what its S (the pre-flight's) and its CPU per request
    near λ* (the search's) predict, as the view is written and if it were async."""
    cpu_ms, route = entry.limit.cpu_ms_per_request, plan.route
    if route is None or not entry.is_result or not cpu_ms:
        return None
    cost = RouteCost(route.service_s, cpu_ms / 1000)
    args = (cost, entry.server, entry.workers, entry.threads, server_cores(entry, run))
    as_written, if_async = predict(*args, route.view), predict(*args, ASYNC)
    return RoutePrediction(
        view=route.view,
        service_ms=round(route.service_s * 1000, 3),
        cpu_ms=round(cpu_ms, 4),
        as_written_rps=round(as_written.rps, 1),
        as_written_binds=as_written.binds,
        as_written=as_written.arithmetic,
        if_async_rps=round(if_async.rps, 1),
        if_async_binds=if_async.binds,
        if_async=if_async.arithmetic,
    )


def _measured(plan: CapacityPlan, ctx: Context, record: Results, db_env) -> CapacityEntry:
    """The plan's entry, judged against the run's closed-loop cells; a failure in its error."""
    try:
        entry = measure(plan, ctx, db_env)
    except (ServerFailed, GeneratorFailed, OSError, ValueError, KeyError) as error:
        entry = unmeasured(plan, str(error))
    entry.measurement_error = measurement_error(entry, saturation_rps(entry, record.cells))
    entry.prediction = predicted(entry, plan, record)
    return entry


def described(entry: CapacityEntry) -> str:
    """An entry in one line of the run's notes."""
    if entry.skipped or entry.error:
        return f"not mapped, {entry.skipped}" if entry.skipped else f"failed: {entry.error}"
    said = f"λ* {entry.lambda_star_rps} req/s; {entry.limit.sentence}"
    if entry.measurement_error:
        said = f"measurement error, not a result: {entry.measurement_error}; {said}"
    if p := entry.prediction:
        said += (
            f"; predicted {p.as_written_rps:,.0f} req/s as written ({p.as_written_binds}), "
            f"{p.if_async_rps:,.0f} if async ({p.if_async_binds})"
        )
    return said


@contextlib.contextmanager
def database(plans: list[CapacityPlan], root: Path | None = None, shared=None):
    """The database environment of the phase's servers: the lab's PostgreSQL, started (migrated,
    seeded) for the block when a database plan will run, or DATABASE_URL's when it is set;
    ``shared`` (the sweep's own, ``sweep.postgres``) instead of a cluster of the phase's."""
    if not any(p.uses_database and not p.skipped for p in plans):
        yield {}
    elif shared is not None:
        yield shared()
    elif os.environ.get("DATABASE_URL"):
        yield {}  # the servers inherit it
    else:
        with pg.running(root) as cluster:
            pg.prepare(cluster)
            yield {"DATABASE_URL": cluster.url()}


def experiments(plans, ctx: Context, record: Results, note, limit: tuple, db_env, db_error):
    """Each plan's searches as an experiment, while its estimate fits the time limit (``limit``:
    its deadline and its seconds); a plan that cannot run (or whose database did not start) is
    kept as such, unmeasured."""
    deadline, time_limit = limit
    for index, plan in enumerate(plans):
        label, keep = f"capacity {plan.key}", record.capacity.append
        if plan.skipped or (plan.uses_database and db_error):
            error = "" if plan.skipped else db_error
            kept = functools.partial(unmeasured, plan, error, plan.skipped)
            yield phase.Experiment(label, kept, keep, described)
            continue
        if time.monotonic() + plan.estimate(START_COST_S) > deadline:
            left = ", ".join(p.key for p in plans[index:])
            record.meta.notes.append(
                f"capacity: time limit of {time_limit:g} s reached; not mapped: {left}"
            )
            return
        note(f"{label}: searching from {plan.first_rps or plan.start_rps:g} req/s")
        measured = functools.partial(_measured, plan, ctx, record, db_env)
        yield phase.Experiment(label, measured, keep, described)


def run_phase(
    profile: str,
    ctx: Context,
    record: Results,
    save: Callable[[], None],
    note: Callable[[str], None],
    time_limit: float | None = None,
    match: str | None = None,
    db_root: Path | None = None,
    plans: list[CapacityPlan] | None = None,
    repeats: int | None = None,
    stacks: list[str] | None = None,
) -> int:
    """Map the profile's configurations (or ``plans``) within its time limit, each with its
    plan's fresh searches (or ``repeats``), under each stack of ``stacks`` (None: the plans'
    own); 1 if any failed."""
    plans = matching(plans or plans_for(profile), match)
    plans = under_stacks(plans, stacks) if stacks else plans
    if repeats:
        plans = [dataclasses.replace(p, repeats=repeats) for p in plans]
    if not plans:
        note(f"no configuration of the {profile} profile matches {match!r}: nothing to map")
        return 0
    time_limit = time_limit or TIME_LIMITS.get(profile, TIME_LIMITS["default"])
    limit = (time.monotonic() + time_limit, time_limit)
    record.capacity = []
    with contextlib.ExitStack() as stack:
        try:
            shared = ctx.database if db_root is None else None
            db_env, db_error = stack.enter_context(database(plans, db_root, shared)), ""
        except pg.ClusterError as error:  # the other configurations are still mapped
            db_env, db_error = {}, f"PostgreSQL did not start: {error}"
        found = experiments(plans, ctx, record, note, limit, db_env, db_error)
        return phase.run(found, save, note)
