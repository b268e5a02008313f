"""The project served under the four kinds the lab measures it with, from its own environment.

The lab's ``mysite.servers`` builds the lab's own command lines, with config modules that import
``mysite``; these are the same servers with the same settings, given on the command line, run by
the project's Python on the shim's applications. Process life (start, readiness, stop) is the
lab's launcher's.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mysite import gunicorn_conf
from mysite.launcher import (
    LOOPBACK,
    RunningProcess,
    free_port,
    managed_process,
    memory_backed_dir,
)
from mysite.servers import BACKLOG, DEFAULT_THREADS, GRANIAN_RESPAWN_INTERVAL, WSGI_KINDS
from mysite.shutdown import AT_DEFAULTS, seconds

from .discover import ProjectError
from .shim import ASGI_APP, Shim

PROJECT_KINDS = ("uvicorn", "granian", "gunicorn-gthread", "granian-wsgi")
# Readiness: the shim's own route, which answers loopback and is never counted.
HEALTH_PATH = "/metrics"


def server_argv(
    kind: str, python: Path, wsgi_app: str | None, workers: int, port: int, threads: int
) -> list[str]:
    python_m = (str(python), "-m")
    common = ["--workers", str(workers), "--backlog", str(BACKLOG)]
    if kind in WSGI_KINDS and wsgi_app is None:
        raise ProjectError(f"{kind} serves a WSGI application and the project has none")
    if kind == "uvicorn":
        return [
            *(*python_m, "uvicorn", ASGI_APP, "--host", LOOPBACK, "--port", str(port)),
            *common,
            *("--loop", "uvloop", "--http", "httptools", "--lifespan", "on", "--no-access-log"),
            *("--timeout-graceful-shutdown", seconds(AT_DEFAULTS.graceful)),
        ]
    if kind == "gunicorn-gthread":
        return [
            *(*python_m, "gunicorn", wsgi_app, "--bind", f"{LOOPBACK}:{port}"),
            *common,
            *("--worker-class", "gthread", "--threads", str(threads)),
            # The lab's own gunicorn settings, given on the command line: its config module
            # imports mysite, which in the project's environment is the project's (or nothing).
            *("--keep-alive", str(gunicorn_conf.keepalive), "--no-control-socket"),
            *("--worker-tmp-dir", gunicorn_conf.worker_tmp_dir),
            *("--graceful-timeout", seconds(AT_DEFAULTS.graceful)),
            *("--timeout", str(gunicorn_conf.timeout)),
        ]
    if kind in ("granian", "granian-wsgi"):
        interface = (
            ["--interface", "asgi", "--loop", "uvloop", ASGI_APP]
            if kind == "granian"
            else ["--interface", "wsgi", "--blocking-threads", str(threads), wsgi_app]
        )
        return [
            *(*python_m, "granian", *interface, "--host", LOOPBACK, "--port", str(port)),
            *common,
            *("--no-access-log", "--log-level", "warning", "--respawn-failed-workers"),
            *("--respawn-interval", str(GRANIAN_RESPAWN_INTERVAL)),
            *("--workers-kill-timeout", seconds(AT_DEFAULTS.graceful)),
        ]
    raise ValueError(f"unknown server kind {kind!r}; choose one of {', '.join(PROJECT_KINDS)}")


@contextlib.contextmanager
def serve(
    shim: Shim,
    wsgi_app: str | None,
    kind: str,
    workers: int = 2,
    threads: int = DEFAULT_THREADS,
    ready_timeout: float = 60.0,
) -> Iterator[RunningProcess]:
    """The project served as ``kind`` on a free loopback port, with a fresh metrics directory,
    for the block's duration."""
    port = free_port()
    metrics_dir = Path(tempfile.mkdtemp(prefix="project-metrics-", dir=memory_backed_dir()))
    env = {**shim.env(), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    argv = server_argv(kind, shim.environment.python, wsgi_app, workers, port, threads)
    try:
        with managed_process(
            f"{shim.project.root.name}-{kind}-{workers}w-{port}",
            argv,
            f"http://{LOOPBACK}:{port}",
            env=env,
            health_path=HEALTH_PATH,
            ready_timeout=ready_timeout,
            # The project's directory, never the lab's: workers that start a fresh interpreter
            # put the current directory on their path, and the lab's has its own mysite.
            cwd=shim.project.root,
        ) as running:
            running.extra.update(kind=kind, workers=workers, metrics_dir=metrics_dir)
            yield running
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
