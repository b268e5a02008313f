"""The sample served under each kind with two workers: every route answers, and ``/metrics``
counts each request once, whichever worker served it; a search waits for every worker process.

Each kind's server (the module's ``served`` fixture) serves every test of this module that asks
for the kind."""

import contextlib

import httpx
import pytest

from loadtests.project.preflight import count_check, preflight, served_counts
from loadtests.project.servers import PROJECT_KINDS, serve
from loadtests.sweep.cell import wait_for_processes
from mysite.launcher import ServerFailed

pytestmark = [pytest.mark.live, pytest.mark.slow]
REPEATS = 10


@pytest.fixture(scope="module")
def served(prepared_sample):
    """The sample served as a kind, two workers: started on the first test that asks for the
    kind, and kept for the module's other tests."""
    wsgi_app = prepared_sample.description.wsgi_application
    with contextlib.ExitStack() as stack:
        running = {}

        def server(kind: str):
            if kind not in running:
                started = serve(prepared_sample.shim, wsgi_app, kind, workers=2)
                running[kind] = stack.enter_context(started)
            return running[kind]

        yield server


@pytest.mark.parametrize("kind", PROJECT_KINDS)
def test_each_kind_serves_the_project_and_counts_every_request_once(prepared_sample, served, kind):
    running = served(kind)
    checked = preflight(running.url, prepared_sample.routes, "/login/", own_database=False)
    answers = {c.route.pattern: c.status for c in checked}
    assert {p: s for p, s in answers.items() if not p.startswith("/admin/")} == {
        "/": 200,
        "/articles/<int:pk>/": 200,
        "/articles/new/": 200,
        "/dashboard/": None,  # needs a login
        "/home/": 301,
        "/logout/": None,  # POST only
    }
    # The admin's pages need a login, all but its login page (its static files collected:
    # with DEBUG off, the sample's manifest storage answers 500 for uncollected ones).
    assert {p for p, s in answers.items() if s is not None and "admin" in p} == {"/admin/login/"}
    count_check(running.url, checked, REPEATS)
    counted = served_counts(running.url)
    # The sample's own page, from the copy's rows: its mysite, not the lab's.
    page = httpx.get(running.url + "/").text
    assert "Async views" in page
    assert counted[("/articles/<int:pk>/", "GET")] == 1 + REPEATS
    assert ("/dashboard/", "GET") not in counted


@pytest.mark.parametrize("kind", ["uvicorn", "gunicorn-gthread"])
def test_a_search_waits_for_every_worker_process(served, kind):
    running = served(kind)
    assert wait_for_processes(running.pid, 2) >= 2
    with pytest.raises(ServerFailed, match="of 9 worker processes"):
        wait_for_processes(running.pid, 9, timeout=0.5)
