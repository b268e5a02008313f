"""Thread hops under ASGI per stack: the lab's middleware adds none to what Django's handler
pays anyway (the ``none`` stack); django-prometheus's MiddlewareMixin hooks and OpenTelemetry's
sync-only middleware add some to every request, on the async view as on the sync one."""

import pytest

from loadtests.observability.hops import ROUTES, count_hops, hops_per_request

pytestmark = [pytest.mark.live, pytest.mark.slow]


@pytest.fixture(scope="module")
def baseline():
    return count_hops("none")


def test_the_labs_middleware_adds_no_hop(baseline):
    lab = count_hops("lab")
    for route in ROUTES:
        assert lab[route] == baseline[route]


@pytest.mark.parametrize("stack", ["django-prometheus", "opentelemetry"])
def test_the_other_stacks_add_hops_to_every_request(baseline, stack):
    measured = count_hops(stack)
    for route in ROUTES:
        assert measured[route].total > baseline[route].total, measured


def test_a_capacity_entry_gets_its_routes_total_and_none_for_a_route_not_counted(baseline):
    assert hops_per_request("none", "/sync/api/") == baseline["/sync/api/"].total
    assert hops_per_request("none", "/async/api_aggregated/") is None
