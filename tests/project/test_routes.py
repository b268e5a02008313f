import pytest

from loadtests.project.routes import FROM_FILE, Route, RoutesError, parse, resolved
from loadtests.project.shim import Description

ROUTES_FILE = """
# the article pages
GET  /                                    weight=3
GET  /articles/<int:pk>/  pk=2  status=200 "Accept:text/html"  # one article
POST /articles/new/       title="A title"  body=x  status=302
GET  /search/  q=async  Authorization:Bearer=abc
"""


def test_a_routes_file_gives_method_path_values_headers_status_weight():
    home, detail, new, search = parse(ROUTES_FILE)
    assert (home.method, home.path, home.weight, home.status) == ("GET", "/", 3, 200)
    assert detail.values == {"pk": "2"}
    assert detail.path == "/articles/2/"
    assert detail.headers == {"Accept": "text/html"}
    assert detail.values_from == {"pk": FROM_FILE}
    assert (new.method, new.status, new.extra) == ("POST", 302, {"title": "A title", "body": "x"})
    assert new.changes_data
    assert not detail.changes_data
    # The text before the first ':' has no '=': a header, whatever its value holds.
    assert search.headers == {"Authorization": "Bearer=abc"}
    assert search.extra == {"q": "async"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("FETCH /", "unknown method"),
        ("GET", "METHOD PATH"),
        ("GET articles/", "must start with '/'"),
        ("GET / status=ok", "status must be a positive integer"),
        ("GET / weight=0", "weight must be a positive integer"),
        ("GET / lonely", "expected name=value"),
        ('GET / "unclosed', "No closing quotation"),
    ],
)
def test_a_bad_line_is_refused_with_its_place(line, message):
    with pytest.raises(RoutesError, match=f"routes:2: .*{message}"):
        parse("GET /\n" + line)


def test_an_empty_file_is_refused():
    with pytest.raises(RoutesError, match="no routes"):
        parse("# nothing\n\n")


def test_a_path_with_a_parameter_and_no_value_has_no_path():
    with pytest.raises(RoutesError, match="no value for pk"):
        _ = Route("GET", "/articles/<int:pk>/").path


ROWS = {"values": {"pk": "1"}, "source": {"pk": "app.A.pk of its first row"}, "error": None}
DESCRIPTION = Description(
    asgi_application="mysite.asgi:application",
    wsgi_application="mysite.wsgi:application",
    login_url="/login/",
    routes=[
        {"pattern": "/", "name": "home", "csrf": True, "login": False},
        {"pattern": "/a/<int:pk>/", "name": "a", "csrf": True, "values": ROWS},
        {"pattern": "/new/", "name": "new", "csrf": True, "is_async": True},
        {"pattern": "/me/", "name": None, "csrf": True, "login": True},
        {"pattern": "/old/", "name": "old", "methods": ["GET"], "status": 301},
        {"pattern": "/bye/", "name": "bye", "methods": ["POST", "OPTIONS"]},
    ],
)


def test_discovery_lists_every_route_pattern_as_get_with_its_url_name():
    routes = resolved(None, DESCRIPTION)
    assert [(r.method, r.pattern, r.label) for r in routes] == [
        ("GET", "/", "home"),
        ("GET", "/a/<int:pk>/", "a"),
        ("GET", "/new/", "new"),
        ("GET", "/me/", "/me/"),
        ("GET", "/old/", "old"),
        ("GET", "/bye/", "bye"),
    ]
    # A redirect view expects its redirect; the others 200.
    assert [r.status for r in routes] == [200, 200, 200, 200, 301, 200]
    # A login is a skip, with its reason; a CSRF token matters only to a data-changing request.
    assert [r.skip for r in routes] == [
        None,
        None,
        None,
        "needs a login",
        None,
        "answers only POST, OPTIONS: name it in a routes file",
    ]


def test_a_route_of_an_async_view_says_so_for_the_prediction():
    routes = resolved(None, DESCRIPTION) + resolved(parse("GET /new/ q=1"), DESCRIPTION)
    assert [r.pattern for r in routes if r.is_async] == ["/new/", "/new/"]


def test_a_data_changing_route_of_a_csrf_protected_view_is_skipped_with_the_reason():
    (post,) = resolved(parse("POST /new/ title=x"), DESCRIPTION)
    assert post.label == "new"
    assert post.skip == "needs a CSRF token"


def test_values_come_from_the_file_first_then_the_copy_else_the_route_says_why():
    from_copy, from_file = resolved(parse("GET /a/<int:pk>/\nGET /a/<int:pk>/ pk=7"), DESCRIPTION)
    assert (from_copy.path, from_copy.values_from) == ("/a/1/", {"pk": "app.A.pk of its first row"})
    assert (from_file.path, from_file.values_from) == ("/a/7/", {"pk": FROM_FILE})
    no_rows = {"values": {}, "source": {}, "error": "app.A has no rows"}
    empty = Description("a:b", None, "/login/", [{"pattern": "/a/<int:pk>/", "values": no_rows}])
    (unfilled,) = resolved(None, empty)
    assert unfilled.skip == "no value for pk: app.A has no rows; give it in a routes file"
    # A pattern the URLconf does not have: nothing to read a value from.
    (unknown,) = resolved(parse("GET /b/<slug>/"), DESCRIPTION)
    assert unknown.skip == "no value for slug: no view found for it; give it in a routes file"
