"""The command line of each server kind the launcher starts, with the settings they share.

Every kind stops gracefully within the ``StopTimes`` it is given (``mysite.shutdown``, from the
longest request the settings allow: ``mysite.bounds``), so the longest legitimate request in
flight at SIGTERM still gets its answer.
"""

import sys

from mysite.shutdown import StopTimes, seconds

SERVER_KINDS = ("uvicorn", "gunicorn-gthread", "gunicorn-uvicorn", "granian", "granian-wsgi")
# The kinds that serve the WSGI app: a request holds one of a worker's threads while it waits.
WSGI_KINDS = frozenset({"gunicorn-gthread", "granian-wsgi"})
DEFAULT_THREADS = 8
BACKLOG = 2048
ASGI_APP = "mysite.asgi:application"
WSGI_APP = "mysite.wsgi:application"
# granian replaces a worker that died (as gunicorn and uvicorn do) after this many seconds.
GRANIAN_RESPAWN_INTERVAL = 0.5


def server_argv(
    kind: str, workers: int, host: str, port: int, threads: int, stop: StopTimes
) -> list[str]:
    """The command that serves the app as ``kind`` with ``workers`` worker processes, stopping
    within ``stop``.

    ``threads``: the threads that run requests in a gunicorn worker, and granian's blocking
    threads for WSGI (where each request holds one); the ASGI kinds run requests on the loop.
    """
    if kind == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            ASGI_APP,
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--lifespan",
            "on",
            "--no-access-log",
            "--backlog",
            str(BACKLOG),
            "--timeout-graceful-shutdown",
            seconds(stop.graceful),
        ]
    if kind in ("gunicorn-gthread", "gunicorn-uvicorn"):
        app, worker_class, graceful = (
            (WSGI_APP, "gthread", stop.graceful)
            if kind == "gunicorn-gthread"
            # The worker waits stop.graceful itself (mysite.gunicorn_uvicorn takes it from this
            # figure); the master waits for its lifespan shutdown too.
            else (ASGI_APP, "mysite.gunicorn_uvicorn.UvicornWorker", stop.supervisor)
        )
        return [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--config",
            "python:mysite.gunicorn_conf",
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            worker_class,
            "--threads",
            str(threads),
            "--graceful-timeout",
            seconds(graceful),
        ]
    if kind in ("granian", "granian-wsgi"):
        if kind == "granian":
            interface = ["--interface", "asgi", "--loop", "uvloop", ASGI_APP]
        else:
            # No --backpressure: granian counts every open connection against it, so a limit
            # as low as the threads let a few slow clients shut everyone else out (measured:
            # tests/reliability/test_slow_clients.py); its default (backlog / workers) does not.
            interface = ["--interface", "wsgi", "--blocking-threads", str(threads), WSGI_APP]
        return [
            sys.executable,
            "-m",
            "granian",
            *interface,
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--backlog",
            str(BACKLOG),
            "--no-access-log",
            "--log-level",
            "warning",
            "--respawn-failed-workers",
            "--respawn-interval",
            str(GRANIAN_RESPAWN_INTERVAL),
            "--workers-kill-timeout",
            seconds(stop.graceful),
        ]
    raise ValueError(f"unknown server kind {kind!r}; choose one of {', '.join(SERVER_KINDS)}")
