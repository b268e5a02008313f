"""The default upstream is this app itself: where that can deadlock, say so and what to do.

Under a server with a fixed number of threads (gunicorn gthread, a WSGI server), a fan-out holds
one thread while its calls wait for others; when fan-outs hold every thread, their calls to
this same server wait for threads that only the fan-outs can free, and all answer 504 at
``UPSTREAM_TIMEOUT`` (two concurrent fan-outs on 2 threads: both 504). Async workers serve the
calls on their event loop and sync views in fresh threads, so they do not deadlock this way.
"""

import ipaddress
import logging

import httpx
from django.conf import settings
from django.http import HttpRequest
from django.urls import Resolver404, resolve

logger = logging.getLogger(__name__)

ADVICE = (
    "Serve an upstream of its own (python -m loadtests.upstream_server --port 8001, then "
    "UPSTREAM_URL=http://127.0.0.1:8001/api/), or serve the app under uvicorn."
)
DEADLOCK = (
    "UPSTREAM_URL ({url}) is this app's own view: under a server with a fixed number of "
    "threads (gunicorn gthread, WSGI), fan-outs that outnumber the threads deadlock until "
    "UPSTREAM_TIMEOUT and answer 504."
)

_warned: set[tuple[str, str]] = set()


def _is_local(host: str) -> bool:
    if host in ("localhost", *settings.ALLOWED_HOSTS):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def targets_this_app(url: str) -> bool:
    """UPSTREAM_URL names a local host and a path that one of this app's views serves."""
    try:
        parsed = httpx.URL(url)
        resolve(parsed.path)
    except (httpx.InvalidURL, TypeError, Resolver404):
        return False
    return _is_local(parsed.host)


def warn_if_calling_itself(request: HttpRequest, url: str) -> None:
    """Log once per worker when a sync fan-out under WSGI calls the very server it runs in.

    Cheap after the first call of a worker; the request's SERVER_PORT is the socket it came in
    on (gunicorn fills it in from the listening socket).
    """
    if "wsgi.input" not in request.META:
        return  # an ASGI worker: no fixed thread pool to exhaust
    key = (url, request.META.get("SERVER_PORT", ""))
    if key in _warned:
        return
    _warned.add(key)
    if key[1] == str(httpx.URL(url).port or 80) and targets_this_app(url):
        logger.warning("%s %s", DEADLOCK.format(url=url), ADVICE)
