"""Each stack end to end on a live server with 2 workers: what it exports counts every request
it was sent exactly once (the lab's and django-prometheus's histograms through /metrics,
OpenTelemetry's spans and histogram at the lab's OTLP receiver once the workers flushed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from loadtests.bench import exactly_once
from loadtests.observability.receiver import counts
from loadtests.observability.stacks import STACK_NAMES
from loadtests.wait import wait_until
from mysite.launcher import LOOPBACK, free_port
from tests.db.conftest import throwaway_cluster
from tests.loadtests.conftest import ROOT

pytestmark = [pytest.mark.live, pytest.mark.slow]
REQUESTS = 30
RECEIVER_LINE = "OTLP receiver: "


def exact_after_the_load(figures):
    """The figures a backend keeps (the receiver's live ones lag by design, and vary)."""
    kept = [f for f in figures if exactly_once.LIVE not in f.source]
    assert kept
    return [f for f in kept if f.exact is False]


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_each_stack_counts_every_request_once_under_uvicorn(stack, upstream):
    app_env = {"UPSTREAM_URL": f"{upstream.url}/api/"}
    figures = exactly_once.measure(stack, "uvicorn", REQUESTS, app_env)
    assert exact_after_the_load(figures) == []
    assert {f.route for f in figures} == set(exactly_once.QUERIES)


def test_opentelemetry_flushes_from_gunicorn_gthread_workers(upstream):
    # WSGI workers have no lifespan: their spans and metrics go out from atexit.
    app_env = {"UPSTREAM_URL": f"{upstream.url}/api/"}
    figures = exactly_once.measure("opentelemetry", "gunicorn-gthread", REQUESTS, app_env)
    assert exact_after_the_load(figures) == []


def _receiver_url(process: subprocess.Popen) -> str | None:
    """The receiver's URL, from the line ``make run`` prints before the app starts."""
    for line in process.stdout:
        if line.startswith(RECEIVER_LINE):
            return line.removeprefix(RECEIVER_LINE).split()[0]
    return None


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def test_make_run_serves_under_the_stack_named(upstream):
    app_port = free_port()
    env = {**os.environ, "UPSTREAM_URL": f"{upstream.url}/api/"}
    argv = [sys.executable, "-m", "loadtests.run", "--instrumentation", "opentelemetry"]
    argv += ["--server", "uvicorn", "--workers", "1", "--port", str(app_port)]
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        receiver = _receiver_url(process)
        assert receiver is not None
        app = f"http://{LOOPBACK}:{app_port}"
        assert wait_until(lambda: _ok(f"{app}/async/api/?delay=0"), 60)
        # The batch processor sends within its schedule (5 s by default).
        assert wait_until(lambda: counts(receiver).server_spans_by_route.get("async/api/"), 30)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    with pytest.raises(urllib.error.URLError, match="refused"):  # it stopped with make run
        counts(receiver)


@pytest.fixture(scope="module")
def database_url():
    with throwaway_cluster() as cluster:
        yield cluster.url()


def test_opentelemetry_traces_each_database_path(upstream, database_url):
    app_env = {"UPSTREAM_URL": f"{upstream.url}/api/", "DATABASE_URL": database_url}
    figures = exactly_once.measure("opentelemetry", "uvicorn", 10, app_env, database=True)
    assert exact_after_the_load(figures) == []
    flushed = [f for f in figures if exactly_once.FLUSHED in f.source]
    for path in exactly_once.DB_QUERIES:
        # psycopg's spans, inside the requests of every path (sync ORM, async ORM, native).
        inner = [f for f in flushed if f.route == path and "spans inside" in f.source]
        assert inner
        assert inner[0].counted >= 10, inner
