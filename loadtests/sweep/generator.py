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


def master_argv(gen: Generator, run: LoadRun, port: int) -> list[str]:
    plan, workers = run.plan, gen.local_workers + gen.remote_workers
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
        "--master": gen.distributed,
        "--master-bind-host": gen.distributed and gen.master_bind_host,
        "--master-bind-port": gen.distributed and str(port),
        "--expect-workers": gen.distributed and str(workers),
        "--expect-workers-max-wait": gen.distributed and str(WORKERS_JOIN_TIMEOUT),
    }
    return [*_locust(gen), *_options(options), plan.spec.user_class]


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
def started(gen: Generator, run: LoadRun, log_dir: Path):
    """Start Locust (and its local workers); yield the master process; always stop them all."""
    log_dir.mkdir(parents=True, exist_ok=True)
    port = gen.master_port or free_port()
    processes: list[subprocess.Popen] = []
    stem = run.out.stem
    try:
        master = _start(master_argv(gen, run, port), log_dir / f"{stem}-locust.log", gen)
        processes.append(master)
        for index in range(gen.local_workers):
            log = log_dir / f"{stem}-locust-worker{index + 1}.log"
            processes.append(_start(worker_argv(gen, port), log, gen))
        yield master
    finally:
        for process in reversed(processes):
            stop_process_group(process, grace=5)


def wait(
    master: subprocess.Popen, run: LoadRun, log_dir: Path, tick: Callable[[], None]
) -> WindowsFile:
    """Wait for the run to end (calling ``tick`` now and then); return its windows."""
    deadline = time.monotonic() + run.time_limit + 15
    while master.poll() is None:
        if time.monotonic() > deadline:
            raise GeneratorFailed(f"Locust did not finish within {run.time_limit + 15:.0f} s")
        tick()
        time.sleep(0.2)
    if not run.out.exists():
        log = log_dir / f"{run.out.stem}-locust.log"
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise GeneratorFailed(f"Locust exited with {master.returncode} and no windows:\n{tail}")
    return msgspec.json.decode(run.out.read_bytes(), type=WindowsFile)
