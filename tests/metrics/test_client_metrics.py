"""Every upstream call of the fan-out views is timed, from the async and the sync client alike;
calls that got no response are labelled with an error type instead of a status."""

import pytest
from django.test import override_settings

from mysite.demo import upstream as upstream_client
from mysite.launcher import free_port
from mysite.metrics import names

from .samples import local

FANOUT = 4


def client_calls(address: str = "127.0.0.1", status: str = "200", error_type: str = "") -> float:
    return local(
        names.CLIENT_DURATION + "_count",
        **{
            names.SERVER_ADDRESS: address,
            names.METHOD: "GET",
            names.STATUS: status,
            names.ERROR_TYPE: error_type,
        },
    )


@pytest.fixture
async def fresh_async_clients():
    """The async client is opened on the test's loop; close it with the test."""
    yield
    await upstream_client.close_clients()


@pytest.mark.parametrize("path", ["/async/api_aggregated/", "/async/aggregate_sync_view/"])
async def test_async_fanout_records_each_call(async_client, upstream, fresh_async_clients, path):
    before = client_calls()
    with override_settings(UPSTREAM_URL=upstream.url + "/api/"):
        response = await async_client.get(path, {"delay": "0", "fanout": str(FANOUT)})
    assert response.status_code == 200
    assert client_calls() == before + FANOUT


@pytest.mark.parametrize("path", ["/sync/api_aggregated/", "/sync/api_sequential/"])
def test_sync_fanout_records_each_call(client, upstream, path):
    before = client_calls()
    with override_settings(UPSTREAM_URL=upstream.url + "/api/"):
        response = client.get(path, {"delay": "0", "fanout": str(FANOUT)})
    assert response.status_code == 200
    assert client_calls() == before + FANOUT


def test_an_upstream_error_status_is_labelled_with_it(client, upstream):
    before = client_calls(status="503", error_type="503")
    with override_settings(UPSTREAM_URL=upstream.url + "/status/503/"):
        assert client.get("/sync/api_aggregated/", {"fanout": "2"}).status_code == 502
    assert client_calls(status="503", error_type="503") == before + 2


async def test_a_refused_call_has_an_error_type_and_no_status(async_client, fresh_async_clients):
    before = client_calls(status="", error_type="connect_error")
    with override_settings(UPSTREAM_URL=f"http://127.0.0.1:{free_port()}/api/"):
        response = await async_client.get("/async/api_aggregated/", {"fanout": "3"})
    assert response.status_code == 502
    assert client_calls(status="", error_type="connect_error") == before + 3


def test_a_timed_out_call_has_an_error_type_and_no_status(client, upstream):
    before = client_calls(status="", error_type="timeout")
    with override_settings(UPSTREAM_URL=upstream.url + "/api/", UPSTREAM_TIMEOUT="0.2"):
        response = client.get("/sync/api_sequential/", {"delay": "1", "fanout": "3"})
    assert response.status_code == 504
    # The sequential baseline stops at the first timeout: one call made, two never tried.
    assert client_calls(status="", error_type="timeout") == before + 1
