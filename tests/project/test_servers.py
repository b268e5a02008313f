"""The sample served under each kind with two workers: every route answers, and ``/metrics``
counts each request once, whichever worker served it; a search waits for every worker process.

The four kinds start side by side (the module's ``served`` fixture), each on its own port with
its own metrics directory, and serve the tests of this module."""

import contextlib

import httpx
import pytest

from loadtests.project.preflight import count_check, preflight, served_counts
from loadtests.project.servers import PROJECT_KINDS, serve
from loadtests.sweep.cell import wait_for_processes
from mysite.launcher import ServerFailed
from tests.side_by_side import outcome, selected_cases, side_by_side

pytestmark = [pytest.mark.live, pytest.mark.slow]
REPEATS = 10


@pytest.fixture(scope="module")
def served(request, prepared_sample):
    """Each kind the selected tests read, two workers, all started at once."""
    wsgi_app = prepared_sample.description.wsgi_application
    kinds = selected_cases(request, "served", "kind")
    with contextlib.ExitStack() as stack:
        starting = {kind: serve(prepared_sample.shim, wsgi_app, kind, workers=2) for kind in kinds}
        running = side_by_side(stack.enter_context, list(starting.values()))
        yield {kind: running[server] for kind, server in starting.items()}


@pytest.mark.parametrize("kind", PROJECT_KINDS)
def test_each_kind_serves_the_project_and_counts_every_request_once(prepared_sample, served, kind):
    running = outcome(served[kind])
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
    running = outcome(served[kind])
    assert wait_for_processes(running.pid, 2) >= 2
    with pytest.raises(ServerFailed, match="of 9 worker processes"):
        wait_for_processes(running.pid, 9, timeout=0.5)
