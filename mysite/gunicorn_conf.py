"""Gunicorn settings for both gunicorn kinds the launcher starts (gthread, uvicorn workers)."""

from mysite.http_limits import close_when_body as pre_request  # noqa: F401  (a gunicorn hook)
from mysite.launcher import memory_backed_dir
from mysite.metrics.multiprocess import directory, mark_process_dead
from mysite.servers import BACKLOG
from mysite.shutdown import AT_DEFAULTS

# Each worker imports the app itself, after the fork, so its metric files carry its own pid.
preload_app = False
# Workers' heartbeat files on tmpfs, as gunicorn advises: on disk, their updates can stall.
worker_tmp_dir = str(memory_backed_dir())
# gunicorn 27's control socket has one path per user, which servers running side by side (the
# benchmarks keep several up at once) would share; nothing here uses it.
control_socket_disable = True
accesslog = None
backlog = BACKLOG
keepalive = 5
# The launcher passes each kind its own, from the longest request the settings allow
# (mysite.bounds; uvicorn workers need longer: see mysite.shutdown); this is for gunicorn
# started by hand with this file, at the default settings.
graceful_timeout = round(AT_DEFAULTS.graceful)
# A sync view may sleep up to 10 s; the worker's heartbeat runs beside it, so this only bounds
# a worker that is truly stuck.
timeout = 60


def child_exit(server, worker):
    """A worker is gone: its live gauges (in-flight requests, loop lag) stop counting."""
    path = directory()
    if path is not None:
        mark_process_dead(worker.pid, path)
