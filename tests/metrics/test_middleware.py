"""The metrics middleware through Django's own handlers: the sync client runs the WSGI stack, the
async client the ASGI stack, as a real server would."""

import asyncio
import logging
import secrets
import threading

import pytest
from asgiref.sync import iscoroutinefunction
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncClient, Client, override_settings

from mysite.metrics import instruments, names

from .samples import local, local_count, local_label_values

TEST_URLS = "tests.metrics.urls"


def test_sync_view_is_counted_with_its_route(client):
    before = local_count("/sync/api/")
    for _ in range(3):
        assert client.get("/sync/api/", {"delay": "0"}).status_code == 200
    assert local_count("/sync/api/") == before + 3


async def test_async_view_is_counted_with_its_route(async_client):
    before = local_count("/async/api/")
    for _ in range(3):
        assert (await async_client.get("/async/api/", {"delay": "0"})).status_code == 200
    assert local_count("/async/api/") == before + 3


def test_duration_lands_in_a_bucket_that_covers_it(client):
    labels = {names.ROUTE: "/sync/api/", names.METHOD: "GET", names.STATUS: "200"}
    below = local(names.SERVER_DURATION + "_bucket", **labels, le="0.05")
    above = local(names.SERVER_DURATION + "_bucket", **labels, le="+Inf")
    client.get("/sync/api/", {"delay": "0.1"})
    assert local(names.SERVER_DURATION + "_bucket", **labels, le="0.05") == below
    assert local(names.SERVER_DURATION + "_bucket", **labels, le="+Inf") == above + 1


def test_status_and_method_labels(client):
    before_400 = local_count("/sync/api/", status=400)
    before_405 = local_count("/sync/api/", method="POST", status=405)
    before_404 = local_count(names.UNMATCHED_ROUTE, status=404)
    client.get("/sync/api/", {"delay": "nan"})
    client.generic("POST", "/sync/api/")  # no body: a body would be a 413
    client.get("/no/such/path/")
    assert local_count("/sync/api/", status=400) == before_400 + 1
    assert local_count("/sync/api/", method="POST", status=405) == before_405 + 1
    assert local_count(names.UNMATCHED_ROUTE, status=404) == before_404 + 1


@pytest.mark.urls(TEST_URLS)
def test_route_of_nested_includes_is_the_full_pattern(client):
    before = local_count("/test/outer/inner/<int:pk>/")
    assert client.get("/test/outer/inner/7/").json() == {"pk": 7}
    assert client.get("/test/outer/inner/8/").status_code == 200
    assert local_count("/test/outer/inner/<int:pk>/") == before + 2
    assert not any(
        "/7/" in route for route in local_label_values(names.SERVER_DURATION, names.ROUTE)
    )


@pytest.mark.urls(TEST_URLS)
def test_sync_view_that_raises_is_counted_as_500():
    before = local_count("/test/sync-raises/", status=500)
    response = Client(raise_request_exception=False).get("/test/sync-raises/")
    assert response.status_code == 500
    assert local_count("/test/sync-raises/", status=500) == before + 1


@pytest.mark.urls(TEST_URLS)
async def test_async_view_that_raises_is_counted_as_500():
    before = local_count("/test/async-raises/", status=500)
    response = await AsyncClient(raise_request_exception=False).get("/test/async-raises/")
    assert response.status_code == 500
    assert local_count("/test/async-raises/", status=500) == before + 1


@pytest.mark.urls(TEST_URLS)
def test_active_requests_counts_the_request_in_flight_and_returns(client):
    before = local(names.SERVER_ACTIVE, **{names.METHOD: "GET"})
    assert client.get("/test/sync-in-flight/").json() == {"active": before + 1}
    assert local(names.SERVER_ACTIVE, **{names.METHOD: "GET"}) == before


@pytest.mark.urls(TEST_URLS)
def test_active_requests_returns_after_a_view_raised():
    before = local(names.SERVER_ACTIVE, **{names.METHOD: "GET"})
    Client(raise_request_exception=False).get("/test/sync-raises/")
    assert local(names.SERVER_ACTIVE, **{names.METHOD: "GET"}) == before


@pytest.mark.parametrize("path", ["/metrics", "/healthz"])
def test_scrapes_and_health_checks_are_left_out(client, path):
    before = local_count(path)
    assert client.get(path).status_code == 200
    assert local_count(path) == before


@override_settings(METRICS_EXCLUDED_PATHS=["/metrics"])
def test_a_setting_can_count_health_checks(client):
    before = local_count("/healthz")
    client.get("/healthz")
    assert local_count("/healthz") == before + 1


def test_unknown_paths_and_odd_methods_add_one_route_and_one_method_value(client):
    """500 requests that a client controls entirely: at most one new value per label."""
    routes = local_label_values(names.SERVER_DURATION, names.ROUTE)
    methods = local_label_values(names.SERVER_DURATION, names.METHOD)
    odd = ["PURGE", "PROPFIND", "get", "FOO", "X" * 40, "MKCOL", "BREW"]
    known = ["/sync/api/", "/async/api/", "/metrics"]
    for i in range(500):
        method = odd[i % len(odd)] if i % 2 else secrets.token_hex(4).upper()
        path = known[i % len(known)] if i % 5 == 0 else "/" + secrets.token_urlsafe(12)
        client.generic(method, path)
    new_routes = local_label_values(names.SERVER_DURATION, names.ROUTE) - routes
    new_methods = local_label_values(names.SERVER_DURATION, names.METHOD) - methods
    assert new_routes <= {names.UNMATCHED_ROUTE}
    assert new_methods <= {names.OTHER_METHOD}


def test_method_label_keeps_standard_methods_only():
    for method in names.STANDARD_METHODS:
        assert instruments.method_label(method) == method
    for method in ["PURGE", "", None, "get", "GET "]:
        assert instruments.method_label(method) == names.OTHER_METHOD


# --- no thread hops --------------------------------------------------------------------------


@override_settings(DEBUG=True)  # Django logs each adaptation only in DEBUG
def test_asgi_stack_adapts_nothing_for_the_metrics_middleware(caplog):
    caplog.set_level(logging.DEBUG, logger="django.request")
    handler = ASGIHandler()
    assert iscoroutinefunction(handler._middleware_chain)
    # Not the metrics middleware, nor anything that would make an async view pay for one.
    assert not [r.getMessage() for r in caplog.records if "adapted" in r.getMessage()]
    # The chain's top is the metrics middleware itself, not a sync_to_async wrapper.
    assert "MetricsMiddleware" in repr(handler._middleware_chain.__wrapped__)


@pytest.mark.urls(TEST_URLS)
async def test_async_path_records_on_the_event_loop_thread(monkeypatch):
    """Every call the middleware makes into the instruments runs on the loop's own thread."""
    loop_thread, loop = threading.get_ident(), asyncio.get_running_loop()
    seen = []

    def spy(function):
        def recorded(*args, **kwargs):
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:  # a worker thread of sync_to_async has no running loop
                running = None
            seen.append((function.__name__, threading.get_ident(), running))
            return function(*args, **kwargs)

        return recorded

    for name in ("method_label", "active_requests", "observe_server_request"):
        monkeypatch.setattr(instruments, name, spy(getattr(instruments, name)))

    response = await AsyncClient().get("/test/async-where/")
    assert response.json()["thread"] == loop_thread
    assert [name for name, _, _ in seen] == [
        "method_label",
        "active_requests",
        "observe_server_request",
    ]
    assert all(thread == loop_thread and running is loop for _, thread, running in seen), seen
