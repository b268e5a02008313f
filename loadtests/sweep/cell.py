"""One cell's runs: a fresh server, Locust and the samplers for each, then the cell.

For each run: pick a port, start Locust (which holds its users until the app answers) while the
launcher starts a fresh server with a wiped metrics directory, sample the server's and the
upstream's processes, tell Locust where the server's metric files are (in the ready flag, so
its window plugin reads them at each window's edges without asking the server), let it warm
up until steady and measure, then stop everything. The sweep interleaves the runs of its
cells; ``loadtests.analysis.assemble`` turns a cell's runs into its record.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import psutil

from loadtests.analysis import scrape
from loadtests.analysis.assemble import assemble
from loadtests.analysis.records import Cell
from loadtests.model.experiment import DEFAULT_STACK, UPSTREAM_POOL_SIZE
from loadtests.project import servers as project_servers
from loadtests.wait import wait_until
from mysite.db import cluster as pg
from mysite.launcher import LOOPBACK, ServerFailed, free_port, serve

from . import generator
from .generator import Generator, LoadRun, master_argv
from .plan import CellPlan

if TYPE_CHECKING:
    from .capacity_plan import CapacityPlan
from .sampler import TreeSampler, pin_tree

UPSTREAM_TIMEOUT = 10.0
SERVER_READY_TIMEOUT = 60.0  # the first worker answers /healthz within this, or the cell fails
WORKERS_READY_TIMEOUT = 20.0
# A project's server's worker processes (it has no /healthz naming them): their imports are
# the project's, in its own environment.
PROCESSES_READY_TIMEOUT = 60.0


@dataclass
class Context:
    """What every cell of a sweep shares."""

    run_dir: Path
    generator: Generator
    server_cpus: frozenset[int] | None = None
    upstream: Callable[[], object] | None = None  # returns a running upstream (lazily started)
    database: Callable[[], dict[str, str]] | None = None  # the servers' database env (lazily)
    external_host: str | None = None  # measure this URL instead of starting servers
    ready_timeout: float = SERVER_READY_TIMEOUT
    on_targets: Callable[[str, dict[str, str]], object] | None = None  # servers are up
    stopping: list[threading.Thread] = field(default_factory=list)

    def stop_later(self, stack: contextlib.ExitStack) -> None:
        """Stop a measured cell's processes in the background, while the next cell starts.

        A server's graceful shutdown waits for requests still queued when the load stopped
        (seconds, for a gthread worker behind a queue); nothing is measured meanwhile.
        """
        thread = threading.Thread(target=stack.close, name="stop-cell")
        thread.start()
        self.stopping.append(thread)

    def settle(self) -> None:
        """Wait until every cell stopped in the background is stopped."""
        while self.stopping:
            self.stopping.pop().join()

    @contextlib.contextmanager
    def server(self, kind: str, workers: int, log_dir: Path, env: dict[str, str], **options):
        """A fresh server, every worker answering (their pids in ``extra["pids"]``), pinned to
        the server's CPUs once booted (on every CPU); stopped at the block's end."""
        with serve(
            kind,
            workers,
            env=env,
            log_dir=log_dir,
            system_checks=False,  # the sweep ran them once, before its first server
            ready_timeout=self.ready_timeout,
            **options,
        ) as server:
            server.extra["pids"] = wait_for_workers(server.url, workers)
            if self.server_cpus:
                pin_tree(server.pid, self.server_cpus)
            yield server

    @contextlib.contextmanager
    def project_server(self, plan: CellPlan, log_dir: Path, env: dict[str, str], port: int):
        """A fresh server of the project whose route ``plan`` carries, every worker process up
        (their pids in ``extra["pids"]``), pinned like the lab's; stopped at the block's end."""
        project = plan.route.project
        wsgi_app = project.description.wsgi_application
        args = (project.shim, wsgi_app, plan.server, plan.workers, plan.threads)
        with project_servers.serve(*args, self.ready_timeout, port, log_dir, env) as server:
            wait_for_processes(server.pid, plan.workers)
            children = psutil.Process(server.pid).children(recursive=True)
            server.extra["pids"] = {p.pid for p in children} or {server.pid}
            if self.server_cpus:
                pin_tree(server.pid, self.server_cpus)
            yield server


def server_env(
    plan: CellPlan | CapacityPlan, upstream_url: str | None, db_env: dict[str, str] | None = None
) -> dict[str, str]:
    """The lab's server's environment for a cell or a capacity search of ``plan``."""
    service = plan.spec.service_time(plan.delay, plan.fanout)
    times = {service, plan.delay} if plan.spec.uses_upstream else {service}
    env = {
        "METRICS_BUCKETS": ",".join(f"{b:g}" for b in scrape.buckets_for(*sorted(times))),
        "UPSTREAM_POOL_SIZE": str(UPSTREAM_POOL_SIZE),
        "UPSTREAM_TIMEOUT": f"{UPSTREAM_TIMEOUT:g}",
        "MYSITE_LOG_LEVEL": "WARNING",
    }
    if upstream_url:
        env["UPSTREAM_URL"] = upstream_url
    if plan.db_pool:
        env["DB_POOL_SIZE"] = str(plan.db_pool)
    return env | (db_env or {}) | dict(plan.spec.server_env)


def database_env(plan: CellPlan, ctx: Context) -> dict[str, str]:
    """The database's address for a database cell's server (PostgreSQL starts on first use)."""
    if not (plan.spec.uses_database and ctx.database):
        return {}
    try:
        return ctx.database()
    except pg.ClusterError as error:  # this cell fails; the sweep goes on with the others
        raise ServerFailed(f"PostgreSQL did not start: {error}") from error


def cell_dir_of(plan: CellPlan, ctx: Context) -> Path:
    return ctx.run_dir / "cells" / plan.slug


def measure_run(plan: CellPlan, ctx: Context, run_index: int, tick: Callable[[], None]) -> dict:
    """One fresh run of the cell (raises on a failed run)."""
    cell_dir = cell_dir_of(plan, ctx)
    cell_dir.mkdir(parents=True, exist_ok=True)
    out = cell_dir / f"run{run_index + 1}.json"
    count = plan.runs()[run_index]
    if not ctx.external_host:
        return _measure_local(plan, ctx, out, count, tick)
    run = LoadRun(plan, ctx.external_host.rstrip("/"), out, count)
    with generator.started(ctx.generator, master_argv(ctx.generator, run), run.log) as master:
        return {"windows": generator.wait(master, run, tick), "sampler": None, "dir": cell_dir}


def cell_of(plan: CellPlan, ctx: Context, runs: list[dict], started: float) -> Cell:
    """The cell assembled from the runs measured so far."""
    cell_dir = cell_dir_of(plan, ctx)
    cores = len(ctx.server_cpus) if ctx.server_cpus else len(os.sched_getaffinity(0))
    cell = assemble(plan, runs, cell_dir, None if ctx.external_host else cores)
    cell.started_at, cell.ended_at = started, time.time()
    cell.instrumentation = DEFAULT_STACK  # the closed-loop cells measure the app as shipped
    cell.locust_files = sorted(p.name for p in cell_dir.glob("*-locust*.*") if p.suffix != ".log")
    (cell_dir / "cell.json").write_bytes(msgspec.json.format(msgspec.json.encode(cell)))
    return cell


def wait_for_workers(url: str, workers: int, timeout: float = WORKERS_READY_TIMEOUT) -> set[int]:
    """Ask /healthz (a new connection each time) until ``workers`` distinct pids answered;
    the pids that did.

    The launcher is ready when one worker answers; the others may still be importing Django,
    and a load that started then would find fewer workers than the cell says.
    """
    seen: set[int] = set()

    def all_answered() -> bool:
        with (
            contextlib.suppress(OSError, ValueError),
            urllib.request.urlopen(f"{url}/healthz", timeout=2) as response,
        ):
            seen.add(json.load(response)["pid"])
        return len(seen) >= workers

    wait_until(all_answered, timeout, interval=0)
    return seen


def wait_for_processes(pid: int, workers: int, timeout: float = PROCESSES_READY_TIMEOUT) -> int:
    """Until a project's server's process tree holds ``workers`` processes besides its first
    (uvicorn serves one worker in its own process): readiness means one worker answered, not
    all (the project has no ``/healthz`` naming its pid). The count; ``ServerFailed`` when
    they do not come."""
    if workers == 1:
        return 1
    root = psutil.Process(pid)
    found = wait_until(lambda: len(root.children(recursive=True)) >= workers, timeout, 0.1)
    if not found:
        have = len(root.children(recursive=True))
        raise ServerFailed(f"{have} of {workers} worker processes after {timeout:g} s")
    return len(root.children(recursive=True))


def _measure_local(plan: CellPlan, ctx: Context, out: Path, count: int, tick) -> dict:
    upstream = ctx.upstream() if plan.spec.uses_upstream and ctx.upstream else None
    upstream_url = f"{upstream.url}/api/" if upstream is not None else None
    db_env = database_env(plan, ctx)
    port = free_port()
    host = f"http://{LOOPBACK}:{port}"
    ready_flag = out.with_suffix(".ready")
    ready_flag.unlink(missing_ok=True)
    run = LoadRun(plan, host, out, count, ready_flag.resolve().as_uri())
    # A project's route: its server, and Locust's route user told the route.
    gen = generator.told_route(ctx.generator, plan.route.load) if plan.route else ctx.generator
    env = server_env(plan, upstream_url, db_env)
    options = {"port": port, "threads": plan.threads}
    # Locust starts while the server boots; it holds its users until the ready flag exists.
    with contextlib.ExitStack() as stack:
        master = stack.enter_context(generator.started(gen, master_argv(gen, run), run.log))
        server = stack.enter_context(
            ctx.project_server(plan, out.parent, env, port)
            if plan.route
            else ctx.server(plan.server, plan.workers, out.parent, env, **options)
        )
        roots, targets = {"server": server.pid}, {"app": server.url}
        if upstream is not None:
            roots["upstream"], targets["upstream"] = upstream.pid, upstream.url
        if ctx.on_targets:
            ctx.on_targets(plan.key, targets)
        ctx.settle()  # the previous cell's servers are gone before this one's load starts
        with TreeSampler(roots) as sampler:
            _write_ready(ready_flag, server)
            windows = generator.wait(master, run, tick)
        ctx.stop_later(stack.pop_all())
    workers = len(server.extra["pids"])
    return {"windows": windows, "sampler": sampler, "dir": out.parent, "workers": workers}


def _write_ready(flag: Path, server) -> None:
    """The flag Locust waits for, holding the server's metrics directory (written whole)."""
    metrics_dir = server.extra.get("metrics_dir")
    tmp = flag.with_suffix(".tmp")
    tmp.write_text(json.dumps({"metrics_dir": str(metrics_dir) if metrics_dir else None}))
    tmp.replace(flag)
