"""The load generator: Locust run headless as child processes, one process or a master and workers.

A child process keeps gevent's monkey patching out of the sweep, lets psutil and the pinning
treat the generator apart from the server, and is the same command a person would type. The
measured windows come back through ``locust_window``'s JSON file, not Locust's own stats.

Distributed mode uses Locust's own master and workers: ``local_workers`` worker processes are
started here; ``remote_workers`` more are expected to join from other hosts with::

    locust -f loadtests/locustfile.py --worker --master-host <this host> --master-port <port>
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from loadtests.analysis.steady import STEADY_CAP_S
from loadtests.model.windows import WindowsFile
from loadtests.scenarios import ROUTE_ENV, RouteLoad
from mysite.launcher import LOOPBACK, die_with_parent, free_port, stop_process_group

from .plan import CellPlan

LOCUSTFILE = Path(__file__).resolve().parent.parent / "locustfile.py"
WORKERS_JOIN_TIMEOUT = 30


class GeneratorFailed(RuntimeError):
    """Locust exited, or ran out of time, without writing its measured windows."""


@dataclass(frozen=True)
class Generator:
    """How Locust is run."""

    locustfile: Path = LOCUSTFILE
    local_workers: int = 0
    remote_workers: int = 0
    master_bind_host: str = LOOPBACK
    master_port: int | None = None
    cpus: frozenset[int] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def distributed(self) -> bool:
        return self.local_workers + self.remote_workers > 0


def told_route(gen: Generator, load: RouteLoad) -> Generator:
    """``gen`` telling Locust's route user a project's route (``ROUTE_ENV``), in one process:
    a remote worker would not be told."""
    env = {**gen.env, ROUTE_ENV: load.to_env()}
    return dataclasses.replace(gen, local_workers=0, remote_workers=0, env=env)


@dataclass(frozen=True)
class LoadRun:
    """One Locust run of a cell: ``count`` windows, written to ``out``, against ``host``; it
    holds its users until ``ready_url`` exists ("": at once)."""

    plan: CellPlan
    host: str
    out: Path
    count: int
    ready_url: str = ""

    @property
    def log(self) -> Path:
        return self.out.with_name(f"{self.out.stem}-locust.log")

    @property
    def time_limit(self) -> float:
        """Locust's own -t: everything the run should take, with a generous margin."""
        plan, stagger = self.plan, self.plan.service_time
        warm = plan.warmup_for() + STEADY_CAP_S + 2 * stagger
        return 60.0 + warm + plan.window_for() * self.count


def _locust(gen: Generator) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(gen.locustfile)]


def _options(options: dict[str, object]) -> list[str]:
    """``--flag value`` for each option with a value, ``--flag`` for each one set to True."""
    argv: list[str] = []
    for flag, value in options.items():
        if value is True:
            argv.append(flag)
        elif value not in (None, False, "", 0):
            argv += [flag, value if isinstance(value, str) else f"{value:g}"]
    return argv


def master_argv(gen: Generator, run: LoadRun) -> list[str]:
    """Locust's command line for the run (``started`` makes it a master when distributed)."""
    plan = run.plan
    # Users are spawned over one service time and each waits up to as long again before its
    # first request, so they never move in lockstep.
    stagger = plan.service_time
    # Locust's own report and statistics (``run1-locust.html``, ``run1-locust_stats.csv``...),
    # beside the run's windows, for those who know them.
    artifacts = str(run.out.with_name(f"{run.out.stem}-locust"))
    options = {
        "--headless": True,
        "--only-summary": True,
        "--loglevel": "INFO",
        "-u": str(plan.users),
        "-r": f"{plan.users / stagger if stagger > 0 else plan.users:g}",
        "-t": f"{round(run.time_limit)}s",
        "--host": run.host,
        "--delay": f"{plan.delay:g}",
        "--fanout": str(plan.fanout),
        "--window-warmup": f"{plan.warmup_for():g}",
        "--window-length": f"{plan.window_for():g}",
        "--window-count": str(run.count),
        "--window-out": str(run.out),
        "--window-scrape": f"{run.host}/metrics",
        "--window-jitter": stagger,
        "--window-steady": plan.subwindow_for(),  # warm up until steady, by the rule
        "--window-ready": run.ready_url,
        "--new-connections": plan.new_connections,
        "--html": f"{artifacts}.html",
        "--csv": artifacts,
    }
    return [*_locust(gen), *_options(options), plan.spec.user_class]


def as_master(gen: Generator, argv: list[str], port: int) -> list[str]:
    """``argv`` (its user class last) as the master of ``gen``'s workers, when distributed."""
    if not gen.distributed:
        return argv
    options = {
        "--master": True,
        "--master-bind-host": gen.master_bind_host,
        "--master-bind-port": str(port),
        "--expect-workers": str(gen.local_workers + gen.remote_workers),
        "--expect-workers-max-wait": str(WORKERS_JOIN_TIMEOUT),
    }
    return [*argv[:-1], *_options(options), argv[-1]]


def worker_argv(gen: Generator, port: int) -> list[str]:
    options = {"--worker": True, "--master-host": LOOPBACK, "--master-port": str(port)}
    return [*_locust(gen), *_options(options), "--loglevel", "INFO"]


def _start(argv: list[str], log_path: Path, gen: Generator) -> subprocess.Popen:
    cpus = gen.cpus

    def prepare_child() -> None:
        # Locust must not go on loading a dead port when the sweep is killed outright.
        die_with_parent()
        if cpus:
            os.sched_setaffinity(0, cpus)

    with open(log_path, "wb") as log:
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **gen.env},
            start_new_session=True,
            preexec_fn=prepare_child,
        )


@contextlib.contextmanager
def started(gen: Generator, argv: list[str], log: Path):
    """Locust on ``argv`` (its user class last; a master and ``gen``'s local workers when it
    is distributed), logging to ``log`` (the workers beside it); yield the master process;
    always stop them all. The closed loop's runs and the capacity searches start it alike."""
    port = gen.master_port or free_port()
    processes: list[subprocess.Popen] = []
    try:
        processes.append(_start(as_master(gen, argv, port), log, gen))
        for index in range(gen.local_workers):
            worker_log = log.with_name(f"{log.stem}-worker{index + 1}.log")
            processes.append(_start(worker_argv(gen, port), worker_log, gen))
        yield processes[0]
    finally:
        for process in reversed(processes):
            stop_process_group(process, grace=5)


def wait(master: subprocess.Popen, run: LoadRun, tick: Callable[[], None]) -> WindowsFile:
    """Wait for the run to end (calling ``tick`` now and then); return its windows."""
    deadline = time.monotonic() + run.time_limit + 15
    while master.poll() is None:
        if time.monotonic() > deadline:
            raise GeneratorFailed(f"Locust did not finish within {run.time_limit + 15:.0f} s")
        tick()
        # Wakes as soon as Locust exits (the next run starts that much sooner), else in 0.2 s.
        with contextlib.suppress(subprocess.TimeoutExpired):
            master.wait(timeout=0.2)
    return msgspec.json.decode(output(master, run.out, run.log, "windows"), type=WindowsFile)


def output(master: subprocess.Popen, out: Path, log: Path, what: str) -> bytes:
    """What Locust wrote to ``out``; GeneratorFailed with its log's tail when it wrote none."""
    if not out.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise GeneratorFailed(f"Locust exited with {master.returncode} and no {what}:\n{tail}")
    return out.read_bytes()
