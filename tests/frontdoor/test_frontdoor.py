"""``/`` lists every route of the URLconf, with its parameters and the commands that measure it."""

import html

import pytest
from django.urls import get_resolver

from loadtests.scenarios import DB_SCENARIOS, SCENARIOS
from mysite.frontdoor import catalogue

pytestmark = pytest.mark.django_db(databases=[])


def resolver_paths(urlconf=None) -> set[str]:
    """Every route's path, read from Django's own resolver (not from the catalogue's walk)."""
    paths = set()
    for key, entries in get_resolver(urlconf).reverse_dict.lists():
        if isinstance(key, str):  # the name; each pattern is also keyed by its view
            for _bits, pattern, _defaults, _converters in entries:
                paths.add("/" + pattern.removesuffix("\\Z"))
    return paths


def test_every_route_of_the_urlconf_is_described():
    assert catalogue.undocumented() == []
    assert {r.path for r in catalogue.routes()} == resolver_paths()


def test_a_route_added_without_a_description_is_caught():
    # The metrics tests' URLconf is the app's plus test-only routes that nobody described.
    missing = catalogue.undocumented("tests.metrics.urls")
    assert "/test/sync-raises/" in missing
    assert "/test/outer/inner/<int:pk>/" in missing


def test_the_page_lists_every_route_its_parameters_and_commands(client):
    response = client.get("/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    for path in resolver_paths():
        assert f"<code>{path}</code>" in page
    for name, scenario in {**SCENARIOS, **DB_SCENARIOS}.items():
        assert f"make locust SCENARIO={name}" in page, scenario.path
    for name in SCENARIOS:
        assert f'make bench BENCH_ARGS="--scenarios {name}"' in page
    assert "undocumented" not in page


def test_json_for_clients_that_ask_and_parameters_from_the_constants(client):
    from mysite.db.params import MAX_ROWS
    from mysite.demo.params import MAX_DELAY, MAX_FANOUT

    body = client.get("/", HTTP_ACCEPT="application/json").json()
    by_path = {r["path"]: r for r in body["routes"]}
    assert set(by_path) == resolver_paths()
    fanout = by_path["/async/api_aggregated/"]
    assert set(fanout["parameters"]) == {"delay", "fanout", "task_id"}
    assert f"{MAX_FANOUT}" in fanout["parameters"]["fanout"]
    assert f"{MAX_DELAY:g}" in fanout["parameters"]["delay"]
    assert f"{MAX_ROWS}" in by_path["/sync/db/"]["parameters"]["rows"]


def test_every_example_link_is_a_valid_request(client):
    """Each route's example query passes the view's own validation (no 400)."""
    for route in catalogue.routes():
        if route.parameters and "db" not in route.path:
            response = client.get(route.example().replace("delay=0.2", "delay=0"))
            assert response.status_code != 400, (route.path, response.content)


def test_only_get_and_head(client):
    assert client.head("/").status_code == 200
    assert client.post("/").status_code in (405, 413)


def test_each_route_names_the_scenarios_that_load_it():
    """The app never imports loadtests: its names of the scenarios are checked here."""
    every = {**SCENARIOS, **DB_SCENARIOS}
    for route in catalogue.routes():
        entry = catalogue.ENTRIES[route.name]
        assert set(entry.scenarios) <= set(every), route.path
        assert all(every[name].path == route.path for name in entry.scenarios), route.path
        assert entry.swept == all(name in SCENARIOS for name in entry.scenarios), route.path
    named = {name for entry in catalogue.ENTRIES.values() for name in entry.scenarios}
    assert named == set(every), "a scenario the front door does not name"
