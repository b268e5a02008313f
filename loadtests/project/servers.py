"""The project served under the four kinds the lab measures it with, from its own environment.

The command lines are the lab's own (``mysite.servers``), run by the project's Python on the
shim's ASGI application or the project's WSGI one, with the lab's gunicorn settings given on the
command line: its config module imports ``mysite``, which in the project's environment is the
project's own (or nothing). Process life (start, readiness, stop) is the lab's launcher's.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mysite import gunicorn_conf, servers
from mysite.launcher import LOOPBACK, RunningProcess, free_port, managed_process, memory_backed_dir
from mysite.servers import DEFAULT_THREADS, WSGI_KINDS
from mysite.shutdown import AT_DEFAULTS

from .discover import ProjectError
from .shim import ASGI_APP, Shim

PROJECT_KINDS = ("uvicorn", "granian", "gunicorn-gthread", "granian-wsgi")
# Readiness: the shim's own route, which answers loopback and is never counted.
HEALTH_PATH = "/metrics"
GUNICORN_SETTINGS = [
    *("--backlog", str(gunicorn_conf.backlog), "--keep-alive", str(gunicorn_conf.keepalive)),
    *("--no-control-socket", "--worker-tmp-dir", gunicorn_conf.worker_tmp_dir),
    *("--timeout", str(gunicorn_conf.timeout)),
]


def server_argv(
    kind: str, python: Path, wsgi_app: str | None, workers: int, port: int, threads: int
) -> list[str]:
    if kind not in PROJECT_KINDS:
        raise ProjectError(f"a project is served by {', '.join(PROJECT_KINDS)}, not {kind}")
    if kind in WSGI_KINDS and wsgi_app is None:
        raise ProjectError(f"{kind} serves a WSGI application and the project has none")
    lab = servers.server_argv(kind, workers, LOOPBACK, port, threads, AT_DEFAULTS)
    own = {sys.executable: str(python), servers.ASGI_APP: ASGI_APP, servers.WSGI_APP: wsgi_app}
    argv = [own.get(arg, arg) for arg in lab]
    if "--config" in argv:
        at = argv.index("--config")
        argv[at : at + 2] = GUNICORN_SETTINGS
    return argv


@contextlib.contextmanager
def serve(
    shim: Shim,
    wsgi_app: str | None,
    kind: str,
    workers: int = 2,
    threads: int = DEFAULT_THREADS,
    ready_timeout: float = 60.0,
    port: int | None = None,
    log_dir: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[RunningProcess]:
    """The project served as ``kind`` on ``port`` (a free loopback port if None), with a fresh
    metrics directory, for the block's duration; its log in ``log_dir`` (a fresh one if None),
    ``env`` added to its environment."""
    port = port or free_port()
    argv = server_argv(kind, shim.environment.python, wsgi_app, workers, port, threads)
    metrics = tempfile.TemporaryDirectory(
        prefix="project-metrics-", dir=memory_backed_dir(), ignore_cleanup_errors=True
    )
    with (
        metrics as metrics_dir,
        managed_process(
            f"{shim.project.root.name}-{kind}-{workers}w-{port}",
            argv,
            f"http://{LOOPBACK}:{port}",
            env={**shim.env(), **(env or {}), "PROMETHEUS_MULTIPROC_DIR": metrics_dir},
            health_path=HEALTH_PATH,
            ready_timeout=ready_timeout,
            log_dir=log_dir,
            # The project's directory, never the lab's: workers that start a fresh interpreter put
            # the current directory on their path, and the lab's has its own mysite.
            cwd=shim.project.root,
        ) as running,
    ):
        running.extra.update(kind=kind, workers=workers, metrics_dir=Path(metrics_dir))
        yield running
