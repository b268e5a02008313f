"""The one launcher for every server this project runs: ``make run``, the benchmarks, the tests.

It decides, in one place, the server kind, the worker count, the multi-process metrics
directory (claimed for this server and wiped before any worker starts: see
``mysite.metrics.ownership``), the graceful stop (from the longest request the app's settings
allow: ``mysite.bounds``) and readiness.

Command line (replaces itself with the server, so signals reach it directly)::

    python -m mysite.launcher --server uvicorn --workers 2 --port 8000

From Python, ``serve(...)`` starts the server as a child process group, waits until it answers
``/healthz`` and always stops it, whatever happens in between.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mysite.metrics import ownership
from mysite.servers import DEFAULT_THREADS, SERVER_KINDS, server_argv
from mysite.shutdown import AT_DEFAULTS, StopTimes

LOOPBACK = "127.0.0.1"
# The port `make run` serves on, and that `make locust` and `make observe` expect.
DEFAULT_PORT = 8000


def memory_backed_dir() -> Path:
    """Where the metrics files go: tmpfs when the machine has one, else the temporary folder.

    Each request writes to memory-mapped files there. On a disk-backed file system the kernel
    writes those dirty pages back every few seconds and each write then faults again: measured
    here, that cost async hello-world throughput 11%, against 0-1% on /dev/shm.
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm
    return Path(tempfile.gettempdir())


def runtime_parent() -> Path:
    """Where the default metrics directory is made: ``$XDG_RUNTIME_DIR`` (the user's own runtime
    directory, on tmpfs) when it is set and is a directory of this user's that no one else may
    enter, else ``memory_backed_dir()``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        with contextlib.suppress(OSError):
            info = os.lstat(runtime)  # a symbolic link is not taken
            if (
                stat.S_ISDIR(info.st_mode)
                and info.st_uid == os.geteuid()
                and not stat.S_IMODE(info.st_mode) & 0o077
            ):
                return Path(runtime)
    return memory_backed_dir()


def default_metrics_dir(port: int) -> Path:
    """A new directory for one server: ``mkdtemp`` makes it ``0700`` under a random name, and
    fails rather than take a name that exists, so no one can make it first (a predictable
    ``mysite-metrics-<uid>-<port>`` made by another user blocked ``make run``). The server's
    watcher removes it when the server stops (``OwnedDirectory.remove_when_released``)."""
    return Path(tempfile.mkdtemp(prefix=f"mysite-metrics-{port}-", dir=runtime_parent()))


def server_environment(metrics_dir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    # uvicorn (both kinds) rewrites the client address from X-Forwarded-For sent from loopback;
    # the app judges forwarded requests itself (METRICS_TRUSTED_PROXIES), the same on every kind.
    env["FORWARDED_ALLOW_IPS"] = ""
    env.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    if not env.get("DJANGO_SECRET_KEY") and env.get("DJANGO_DEBUG", "").lower() not in (
        "1",
        "true",
    ):
        # A fresh random key for this local run; a deployment sets its own.
        env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    return env


def run_system_checks(env: dict[str, str]) -> None:
    """Refuse to start on bad settings, with Django's own messages (servers skip the checks)."""
    checks_env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    result = subprocess.run(
        [sys.executable, "-m", "django", "check", "--fail-level", "ERROR"],
        env=checks_env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"The app's settings are not valid:\n{result.stderr.strip()}")


# --- serving from Python (tests, benchmarks) ---------------------------------------------------


# A process that never answered holds no request: this long to exit (a worker still importing
# the app, say) before SIGKILL, whatever the graceful stop its settings would give requests.
NOT_READY_GRACE = 10.0


class ServerFailed(RuntimeError):
    """A server exited or never became ready; the message ends with the tail of its log."""


@dataclass
class RunningProcess:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path
    extra: dict = field(default_factory=dict)
    # What its stopper waits after SIGTERM before SIGKILL (a server's: what its launcher said).
    stop_grace: float = AT_DEFAULTS.stop_grace

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def free_port(host: str = LOOPBACK) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until_ready(
    running: RunningProcess, health_path: str = "/healthz", timeout: float = 60.0
) -> None:
    """Poll the health URL until it answers 200; fail at once if the process exits."""
    deadline = time.monotonic() + timeout
    url = running.url + health_path
    while True:
        if running.process.poll() is not None:
            raise ServerFailed(
                f"{running.name} exited with {running.process.returncode} before it was ready."
                f"\n{running.log_tail()}"
            )
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=2) as response,
        ):
            if response.status == 200:
                return
        if time.monotonic() > deadline:
            raise ServerFailed(
                f"{running.name} was not ready within {timeout:g} s ({url}).\n{running.log_tail()}"
            )
        time.sleep(0.05)


def _resolve_prctl():
    """libc's ``prctl``, looked up once, in the parent, at import (Linux only; None elsewhere).

    The look-up must not happen between ``fork`` and ``exec``: ``dlopen`` takes the loader's
    lock, which can deadlock in a child forked from a process with threads. ``CDLL(None)``
    searches the symbols already loaded (libc's among them) and, unlike ``find_library``, runs
    no ``ldconfig`` subprocess. The child only calls the resolved function.
    """
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PR_SET_PDEATHSIG = 1
_PRCTL = _resolve_prctl() if sys.platform.startswith("linux") else None


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this child when its parent dies, even by SIGKILL.

    ``finally`` blocks stop servers on every normal exit; this covers the rest (a test runner
    killed on a timeout), so no server outlives whoever started it. It survives ``exec``.
    Safe in a ``preexec_fn``: one system call through a function resolved before the fork.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process_group(process: subprocess.Popen, grace: float = AT_DEFAULTS.stop_grace) -> None:
    """SIGTERM the whole group (server and workers), then SIGKILL what is left after ``grace``.

    The default outlasts every server kind's own graceful stop at the default settings
    (``mysite.shutdown``); ``serve`` passes what the server's own settings require.
    """
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # Workers can outlive a master that died first: the group is killed whatever happened.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)


@contextlib.contextmanager
def managed_process(
    name: str,
    argv: Sequence[str],
    url: str,
    env: dict[str, str] | None = None,
    health_path: str = "/healthz",
    ready_timeout: float = 60.0,
    cpus: set[int] | None = None,
    log_dir: Path | None = None,
    cwd: Path | None = None,
) -> Iterator[RunningProcess]:
    """Run ``argv`` in its own process group until the block ends; yield once it is healthy."""
    owned_log_dir = log_dir is None
    log_dir = Path(tempfile.mkdtemp(prefix="mysite-logs-")) if log_dir is None else log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"

    def prepare_child() -> None:
        die_with_parent()
        if cpus:
            os.sched_setaffinity(0, cpus)

    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=prepare_child,
        )
    running = RunningProcess(name, url, process, log_path)
    ready = False
    try:
        wait_until_ready(running, health_path, ready_timeout)
        ready = True
        yield running
    finally:
        stop_process_group(process, running.stop_grace if ready else NOT_READY_GRACE)
        if owned_log_dir:
            shutil.rmtree(log_dir, ignore_errors=True)


@contextlib.contextmanager
def serve(
    kind: str = "uvicorn",
    workers: int = 2,
    port: int | None = None,
    threads: int = DEFAULT_THREADS,
    env: dict[str, str] | None = None,
    ready_timeout: float = 60.0,
    cpus: set[int] | None = None,
    log_dir: Path | None = None,
    system_checks: bool = True,
) -> Iterator[RunningProcess]:
    """Serve the app on loopback as ``kind`` with ``workers`` workers, for the block's duration.

    ``env`` is added to this process's environment; the metrics directory is a fresh one.
    ``system_checks=False`` skips Django's checks (0.7 s a start) for a caller that ran them.
    """
    port = port or free_port()
    metrics_dir = Path(tempfile.mkdtemp(prefix="mysite-metrics-", dir=memory_backed_dir()))
    argv = [
        sys.executable,
        "-m",
        "mysite.launcher",
        "--server",
        kind,
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--port",
        str(port),
        "--metrics-dir",
        str(metrics_dir),
        *([] if system_checks else ["--no-system-checks"]),
    ]
    full_env = {**os.environ, **(env or {})}
    try:
        with managed_process(
            f"{kind}-{workers}w-{port}",
            argv,
            f"http://{LOOPBACK}:{port}",
            env=full_env,
            ready_timeout=ready_timeout,
            cpus=cpus,
            log_dir=log_dir,
        ) as running:
            running.extra.update(
                kind=kind, workers=workers, threads=threads, metrics_dir=metrics_dir
            )
            running.stop_grace = announced_stop(running.log_path).stop_grace
            yield running
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


# --- the graceful stop -------------------------------------------------------------------------

# The line the launcher prints before it becomes the server, which ``serve`` reads back.
_STOP_ANNOUNCEMENT = "Graceful stop: requests up to {:g} s; the server waits {:g} s for them"
_STOP_PATTERN = re.compile(re.escape(_STOP_ANNOUNCEMENT.partition("{")[0]) + r"(\S+) s")


def stop_times_for(env: dict[str, str]) -> StopTimes:
    """The graceful stop for the longest request the app allows, from the settings as the server
    will read them: this process becomes the server, with ``env`` as its environment (less the
    metrics directory, as for the system checks: this process is none of the server's)."""
    os.environ.update({k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"})
    from django.core.exceptions import ImproperlyConfigured

    try:
        from mysite import bounds

        return bounds.from_settings().stop_times()
    except (ImproperlyConfigured, ValueError) as error:
        sys.exit(f"The app's settings are not valid: {error}")


def announced_stop(log_path: Path) -> StopTimes:
    """The stop times the launcher printed in the server's log (``main``)."""
    found = _STOP_PATTERN.search(log_path.read_text(errors="replace"))
    if found is None:
        raise ServerFailed(f"no graceful stop announced in {log_path}")
    return StopTimes(float(found.group(1)))


# --- command line ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mysite.launcher", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--server",
        choices=SERVER_KINDS,
        default="uvicorn",
        help="server kind (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WORKERS", "2")),
        help="worker processes (default: $WORKERS, else 2; now %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help="threads per gunicorn worker; granian-wsgi's blocking threads per worker"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--host", default=LOOPBACK, help="address to serve on (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s)"
    )
    parser.add_argument(
        "--metrics-dir",
        type=Path,
        help="multi-process metrics directory, private to this user, wiped of metric files at "
        "start and locked while the server runs (default: $PROMETHEUS_MULTIPROC_DIR, else a new "
        "private directory in $XDG_RUNTIME_DIR or on tmpfs, removed when the server stops)",
    )
    parser.add_argument(
        "--no-system-checks",
        action="store_true",
        help="skip Django's system checks (for callers that have run them)",
    )
    args = parser.parse_args(argv)
    if args.workers < 1 or args.threads < 1:
        parser.error("--workers and --threads must be at least 1")

    inherited = os.environ.get("PROMETHEUS_MULTIPROC_DIR") if not args.metrics_dir else None
    chosen = args.metrics_dir or inherited
    metrics_dir = Path(chosen).absolute() if chosen else default_metrics_dir(args.port)
    # First, before anything is deleted: the directory must be this user's, private, held by no
    # running server and written by no live process. The lock stays held by the server this
    # process becomes.
    try:
        owned = ownership.claim(metrics_dir)
    except ownership.DirectoryRefused as refused:
        if not chosen:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        hint = " (PROMETHEUS_MULTIPROC_DIR names it: unset it for a directory of its own)"
        sys.exit(f"Not starting: {refused}{hint if inherited else ''}")
    if not chosen:
        owned.remove_when_released()
    env = server_environment(owned.path)
    # The worker count, for the database check (max_connections must cover every worker's pools).
    env["WEB_CONCURRENCY"] = str(args.workers)
    if not args.no_system_checks:
        run_system_checks(env)
    stop = stop_times_for(env)
    print(_STOP_ANNOUNCEMENT.format(stop.longest_request, stop.graceful), flush=True)
    command = server_argv(args.server, args.workers, args.host, args.port, args.threads, stop)
    print(
        f"Serving {args.server} with {args.workers} worker(s) on http://{args.host}:{args.port} "
        f"(metrics directory {owned.path})",
        flush=True,
    )
    owned.keep_across_exec()
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main()
