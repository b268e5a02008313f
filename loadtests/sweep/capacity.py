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
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import statistics
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from loadtests.analysis.capacity import (
    CapacityEntry,
    CapacityLimit,
    binding_limit,
    cpu_ceiling,
    database_cpu_ms,
)
from loadtests.analysis.lambda_star import combine, measurement_error, saturation_rps, theory
from loadtests.analysis.results import Results
from loadtests.observability.hops import hops_per_request
from loadtests.observability.stacks import prepared
from loadtests.plugins.search import MAX_STEP_S, MAX_WARMUP_S
from mysite.db import cluster as pg
from mysite.launcher import LOOPBACK, ServerFailed, free_port, serve
from mysite.servers import WSGI_KINDS

from . import generator
from .capacity_plan import (
    MAX_RPS,
    TIME_LIMITS,
    CapacityPlan,
    matching,
    plans_for,
    under_stacks,
)
from .capacity_steps import arrival_seed, idle_use, search_record, step_record
from .cell import Context, wait_for_workers
from .generator import GeneratorFailed
from .sampler import TreeSampler, pin_tree

SEARCH_MARGIN_S = 120.0  # Locust's own time limit beyond what the steps should take
WARM_TIMEOUT_S = 10.0


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
    gen: generator.Generator, plan: CapacityPlan, host: str, out: Path, seed: int = 1
) -> list[str]:
    # Locust's own limit, past any search the step budget allows: each step a warm-up and
    # its longest judged part.
    limit = SEARCH_MARGIN_S + plan.calibrate_s + plan.max_steps * (MAX_WARMUP_S + MAX_STEP_S)
    ceiling = ["--capacity-ceiling", f"{plan.slot_ceiling:g}"] if plan.slot_ceiling else []
    return [
        *generator._locust(gen),
        "--headless",
        "--only-summary",
        "--loglevel",
        "INFO",
        "-u",
        "1",
        "-r",
        "1",
        "-t",
        f"{round(limit)}s",
        "--host",
        host,
        "--delay",
        f"{plan.delay:g}",
        "--fanout",
        str(plan.fanout),
        "--arrival-rate",
        f"{plan.start_rps:g}",
        "--arrival-out",
        str(out),
        "--arrival-seed",
        str(seed),
        *ceiling,
        "--capacity-slo-ms",
        f"{plan.slo_p99_ms:g}",
        "--capacity-max",
        f"{MAX_RPS:g}",
        "--capacity-growth",
        f"{plan.growth:g}",
        "--capacity-precision",
        f"{plan.precision:g}",
        "--capacity-min-requests",
        str(plan.min_requests),
        "--capacity-min-step",
        f"{plan.min_step_s:g}",
        "--capacity-max-steps",
        str(plan.max_steps),
        "--capacity-step-requests",
        str(plan.step_requests),
        "--capacity-edge-tests",
        str(plan.edge_tests),
        "--capacity-calibrate",
        f"{plan.calibrate_s:g}",
        plan.spec.user_class,
    ]


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


def _search(
    plan: CapacityPlan, ctx: Context, out: Path, db_env: dict[str, str], seed: int
) -> tuple[dict, TreeSampler]:
    """One fresh server (and a fresh OTLP receiver, when its stack exports) and one search;
    Locust's JSON and the server's CPU samples."""
    with prepared(plan.instrumentation) as stack:
        if stack.receiver_pid and ctx.generator.cpus:  # a collector runs off the server's cores
            pin_tree(stack.receiver_pid, ctx.generator.cpus)
        env = {"MYSITE_LOG_LEVEL": "WARNING", **plan.server_env(), **stack.env}
        env |= db_env if plan.uses_database else {}
        sampler, processes, log = _serve_and_search(plan, ctx, out, env, seed)
    if not out.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise GeneratorFailed(f"Locust exited with {processes[0].returncode}, no steps:\n{tail}")
    return json.loads(out.read_text()), sampler


def _serve_and_search(
    plan: CapacityPlan, ctx: Context, out: Path, env: dict[str, str], seed: int
) -> tuple[TreeSampler, list, Path]:
    port = free_port()
    host = f"http://{LOOPBACK}:{port}"
    with serve(
        plan.server,
        plan.workers,
        port=port,
        threads=plan.threads,
        env=env,
        log_dir=out.parent,
        system_checks=False,
        ready_timeout=ctx.ready_timeout,
    ) as server:
        wait_for_workers(server.url, plan.workers)
        if plan.uses_database:
            warm_database(server.url, plan)
        if ctx.server_cpus:
            pin_tree(server.pid, ctx.server_cpus)
        ctx.settle()
        gen = ctx.generator
        argv, port = locust_argv(gen, plan, host, out, seed), gen.master_port or free_port()
        if gen.distributed:  # the master splits each step's rate across its workers
            argv[-1:-1] = [
                "--master",
                "--master-bind-host",
                gen.master_bind_host,
                "--master-bind-port",
                str(port),
                "--expect-workers",
                str(gen.local_workers + gen.remote_workers),
                "--expect-workers-max-wait",
                str(generator.WORKERS_JOIN_TIMEOUT),
            ]
        log = out.with_name(f"{out.stem}-locust.log")
        roots = {"server": server.pid}
        database_pid = postmaster_pid(env) if plan.uses_database else None
        roots |= {"database": database_pid} if database_pid else {}
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
    return sampler, processes, log


def measure(
    plan: CapacityPlan, ctx: Context, db_env: dict[str, str] | None = None, search=None
) -> CapacityEntry:
    """λ* of ``plan`` from its fresh searches, each ``search(plan, ctx, out, db_env, seed)``
    (default: the lab's own server, ``_search``)."""
    cores = len(ctx.server_cpus) if ctx.server_cpus else len(os.sched_getaffinity(0))
    plan_dir = ctx.run_dir / "capacity" / plan.slug
    plan_dir.mkdir(parents=True, exist_ok=True)
    searches, steps, idle_threads, idle_cores = [], [], None, []
    for repeat in range(1, plan.repeats + 1):
        seed = arrival_seed(ctx.run_dir.name, plan.key, repeat)
        out = plan_dir / f"search{repeat}.json"
        raw, sampler = (search or _search)(plan, ctx, out, db_env or {}, seed)
        steps += [step_record(step, repeat, sampler) for step in raw["steps"]]
        searches.append(search_record(raw, repeat, seed))
        threads, idle = idle_use(raw, sampler)
        idle_threads = threads if repeat == 1 else idle_threads
        idle_cores += [idle] if idle is not None else []
    lambda_star, bracket, ci = combine(searches)
    idle = statistics.fmean(idle_cores) if idle_cores else None
    lower = any(s.lower_bound for s in searches)
    stopped = "; ".join(dict.fromkeys(s.stopped_because for s in searches if s.stopped_because))
    entry = CapacityEntry(
        **planned(plan),
        lambda_star_rps=lambda_star,
        lambda_star_bracket=bracket,
        limit=binding_limit(
            lambda_star, plan.model(), cpu_ceiling(steps, cores, idle), lower, plan.model_binds
        ),
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
    entry.theory = theory(entry, slots, plan.spec.service_time(plan.delay, plan.fanout))
    return entry


def planned(plan: CapacityPlan) -> dict:
    """The entry's fields that the plan fixes, measured or not."""
    return {
        "server": plan.server,
        "workers": plan.workers,
        "threads": plan.threads,
        "scenario": plan.scenario,
        "variant": plan.variant,
        "delay_s": plan.delay,
        "slo_p99_ms": plan.slo_p99_ms,
        "db_pool_size": plan.db_pool,
        "instrumentation": plan.instrumentation,
        "route": plan.route,
    }


def failed_entry(plan: CapacityPlan, error: str, skipped: str = "") -> CapacityEntry:
    model, text = plan.model()
    return CapacityEntry(
        **planned(plan),
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
    search=None,
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
    deadline = time.monotonic() + time_limit
    record.capacity = []
    with contextlib.ExitStack() as stack:
        try:
            shared = ctx.database if db_root is None else None
            db_env, db_error = stack.enter_context(database(plans, db_root, shared)), ""
        except pg.ClusterError as error:  # the other configurations are still mapped
            db_env, db_error = {}, f"PostgreSQL did not start: {error}"
        limit = (deadline, time_limit)
        return _run_plans(plans, ctx, record, save, note, limit, db_env, db_error, search)


def _run_plans(plans, ctx, record, save, note, limit, db_env, db_error, search=None) -> int:
    (deadline, time_limit), code, start_cost = limit, 0, 5.0
    for index, plan in enumerate(plans):
        if plan.skipped or (plan.uses_database and db_error):
            note(f"capacity {plan.key}: not mapped, {plan.skipped or db_error}")
            record.capacity.append(failed_entry(plan, db_error, skipped=plan.skipped))
            code = max(code, 1 if db_error and not plan.skipped else 0)
            save()
            continue
        if time.monotonic() + plan.estimate(start_cost) > deadline:
            left = [p.key for p in plans[index:]]
            record.meta.notes.append(
                f"capacity: time limit of {time_limit:g} s reached; not mapped: {', '.join(left)}"
            )
            break
        began = time.monotonic()
        note(f"capacity {plan.key}: searching from {plan.start_rps:g} req/s")
        try:
            entry = measure(plan, ctx, db_env, search)
        except (ServerFailed, GeneratorFailed, OSError, ValueError, KeyError) as error:
            entry, code = failed_entry(plan, str(error)), 1
        entry.measurement_error = measurement_error(entry, saturation_rps(entry, record.cells))
        if entry.measurement_error:
            note(f"capacity {plan.key}: measurement error, not a result: {entry.measurement_error}")
        note(
            f"capacity {plan.key}: λ* {entry.lambda_star_rps} req/s; {entry.limit.sentence} "
            f"({time.monotonic() - began:.0f} s)"
        )
        record.capacity.append(entry)
        save()
    return code
