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
    """One Locust run: ``count`` windows of ``window`` seconds after ``warmup`` seconds."""

    host: str
    user_class: str
    users: int
    delay: float
    fanout: int
    warmup: float
    window: float
    count: int
    out: Path
    ready_url: str = ""
    new_connections: bool = False
    # Users are spawned over this many seconds and each waits up to as long again before its
    # first request (one service time), so they never move in lockstep.
    stagger_s: float = 0.0
    subwindow_s: float = 0.0  # >0: warm up until steady, by the rule on sub-windows this long
    # Locust's own report and statistics: --html <this>.html, --csv <this> ("" : none).
    artifacts: str = ""

    @property
    def time_limit(self) -> float:
        """Locust's own -t: everything the run should take, with a generous margin."""
        return 60.0 + self.warmup + STEADY_CAP_S + 2 * self.stagger_s + self.window * self.count

    @property
    def spawn_rate(self) -> float:
        return self.users / self.stagger_s if self.stagger_s > 0 else float(self.users)


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
    workers = gen.local_workers + gen.remote_workers
    artifacts = run.artifacts or None
    options = {
        "--headless": True,
        "--only-summary": True,
        "--loglevel": "INFO",
        "-u": str(run.users),
        "-r": f"{run.spawn_rate:g}",
        "-t": f"{round(run.time_limit)}s",
        "--host": run.host,
        "--delay": f"{run.delay:g}",
        "--fanout": str(run.fanout),
        "--window-warmup": f"{run.warmup:g}",
        "--window-length": f"{run.window:g}",
        "--window-count": str(run.count),
        "--window-out": str(run.out),
        "--window-scrape": f"{run.host}/metrics",
        "--window-jitter": run.stagger_s,
        "--window-steady": run.subwindow_s,
        "--window-ready": run.ready_url,
        "--new-connections": run.new_connections,
        "--html": artifacts and f"{artifacts}.html",
        "--csv": artifacts,
        "--master": gen.distributed,
        "--master-bind-host": gen.distributed and gen.master_bind_host,
        "--master-bind-port": gen.distributed and str(port),
        "--expect-workers": gen.distributed and str(workers),
        "--expect-workers-max-wait": gen.distributed and str(WORKERS_JOIN_TIMEOUT),
    }
    return [*_locust(gen), *_options(options), run.user_class]


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
