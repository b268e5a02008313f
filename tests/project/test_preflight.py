"""The pre-flight on a live server: a wrong answer stops the run and shows it; a route that
needs a login or a CSRF token is skipped with the reason, not counted against the server."""

import pytest

from loadtests.project.preflight import PreflightFailed, preflight
from loadtests.project.routes import Route, parse
from loadtests.project.servers import serve

pytestmark = [pytest.mark.live, pytest.mark.slow]


@pytest.fixture(scope="module")
def sample_url(prepared_sample):
    wsgi_app = prepared_sample.description.wsgi_application
    with serve(prepared_sample.shim, wsgi_app, "uvicorn", workers=1) as running:
        yield running.url


def test_a_route_answering_another_status_stops_with_the_answer(sample_url):
    with pytest.raises(PreflightFailed, match=r"GET /articles/999/ .* answered 404, expected 200"):
        preflight(sample_url, parse("GET / \nGET /articles/<int:pk>/ pk=999"), "/login/", False)
    with pytest.raises(PreflightFailed, match="answered 200, expected 201") as failed:
        preflight(sample_url, [Route("GET", "/", status=201)], "/login/", False)
    assert "<h1>Articles</h1>" in str(failed.value)  # the body it got


def test_login_and_csrf_routes_are_skipped_with_the_reason(sample_url):
    # Found by their answers, for a view whose needs the probe could not see.
    login, admin, csrf = preflight(
        sample_url,
        [
            Route("GET", "/dashboard/"),
            Route("GET", "/admin/"),
            Route("POST", "/articles/new/", extra={"title": "x"}),
        ],
        "/login/",
        own_database=False,
    )
    assert login.status == 302
    assert login.route.skip == "needs a login (redirected to /login/?next=/dashboard/)"
    # The admin's own login page, not LOGIN_URL: known by the page it sends back as next.
    assert admin.route.skip == "needs a login (redirected to /admin/login/?next=/admin/)"
    assert (csrf.status, csrf.route.skip) == (403, "needs a CSRF token")


def test_a_data_changing_route_is_not_sent_to_the_projects_own_database(sample_url):
    (checked,) = preflight(sample_url, [Route("POST", "/articles/new/")], "/login/", True)
    assert checked.status is None
    assert checked.route.skip == "changes data: only a copy of the database may"
