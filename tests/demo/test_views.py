"""Every endpoint through Django's test clients: the sync client for sync views, the async one
for async views, as a WSGI and an ASGI server would call them."""

import json

import pytest

from mysite.http_limits import BAD_HOST, BODY_REFUSED

SYNC_HELLO = "/sync/api/"
ASYNC_HELLO = ["/async/api/", "/async/blocking/"]
ASYNC_FANOUT = ["/async/api_aggregated/", "/async/aggregate_sync_view/"]
SYNC_FANOUT = ["/sync/api_aggregated/", "/sync/api_sequential/"]
ALL_VIEWS = [SYNC_HELLO, *ASYNC_HELLO, *ASYNC_FANOUT, *SYNC_FANOUT]


def assert_hello(response, task_id, delay):
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "Hello World!", "task_id": task_id, "delay": delay}


def assert_fanout(body, fanout, delay):
    assert body["errors"] == []
    assert [r["task_id"] for r in body["responses"]] == [str(i) for i in range(fanout)]
    assert all(r["delay"] == delay for r in body["responses"])
    assert body["elapsed"] >= round(delay, 2)
    assert body["debug_message"] == f"fetch executed in {body['elapsed']:.2f} seconds."


def test_sync_api(client):
    assert_hello(client.get(SYNC_HELLO, {"delay": "0", "task_id": "t-1"}), "t-1", 0.0)


def test_sync_api_defaults_to_one_second(client):
    response = client.get(SYNC_HELLO, {"delay": "0"})
    assert response.json()["task_id"] is None
    assert response.json()["delay"] == 0.0


@pytest.mark.parametrize("path", ASYNC_HELLO)
async def test_async_hello_views(async_client, path):
    assert_hello(await async_client.get(path, {"delay": "0.01", "task_id": "7"}), "7", 0.01)


@pytest.mark.parametrize("path", ASYNC_FANOUT)
async def test_async_fanout(async_client, upstream_api, path):
    response = await async_client.get(path, {"delay": "0.05", "fanout": "5"})
    assert response.status_code == 200
    assert_fanout(response.json(), 5, 0.05)


@pytest.mark.parametrize("path", SYNC_FANOUT)
def test_sync_fanout(client, upstream_api, path):
    response = client.get(path, {"delay": "0.05", "fanout": "5"})
    assert response.status_code == 200
    assert_fanout(response.json(), 5, 0.05)


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("path", ALL_VIEWS)
def test_bad_parameter_is_400_with_reason(client, path):
    response = client.get(path, {"delay": "nan"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "delay" in response.json()["error"]


@pytest.mark.parametrize("path", [*ALL_VIEWS, "/healthz", "/metrics"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405(client, path, method):
    response = client.generic(method, path)
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert "method not allowed" in response.json()["error"]
    assert response["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/nope", "/sync/api", "/sync/api/x/", "/caf%C3%A9/", "/%FF/"])
async def test_an_unknown_path_is_a_json_404_in_both_stacks(client, async_client, path):
    for response in (client.get(path), await async_client.get(path)):
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"error": "no such path"}


@pytest.mark.parametrize("path", [*ALL_VIEWS, "/healthz", "/metrics", "/nope"])
@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_a_request_with_a_body_is_413_whatever_the_method_or_path(client, path, method):
    response = getattr(client, method)(path, b"x" * 10, content_type="text/plain")
    assert response.status_code == 413
    assert response.json() == {"error": BODY_REFUSED}
    assert response["Connection"] == "close"


def test_a_chunked_request_is_413(client):
    headers = {"Transfer-Encoding": "chunked"}
    assert client.get(SYNC_HELLO, {"delay": "0"}, headers=headers).status_code == 413


@pytest.mark.parametrize("path", [SYNC_HELLO, "/async/api/", "/metrics", "/nope"])
def test_a_host_not_allowed_is_a_json_400(client, path):
    response = client.get(path, {"delay": "0"}, headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response.json() == {"error": BAD_HOST}


async def test_a_host_not_allowed_is_a_json_400_async(async_client):
    response = await async_client.get(
        "/async/api/", {"delay": "0"}, headers={"Host": "evil.example"}
    )
    assert response.status_code == 400
    assert response.json() == {"error": BAD_HOST}


@pytest.mark.parametrize("path", ["/sync/api/", "/sync/api_aggregated/"])
def test_too_many_query_fields_is_a_json_400(client, path):
    query = "&".join(f"f{i}=1" for i in range(150))
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400
    assert response.json() == {"error": "the query has too many fields"}


@pytest.mark.parametrize("path", [SYNC_HELLO, "/async/api/", "/healthz"])
def test_head_is_allowed(client, path):
    response = client.head(path, {"delay": "0"})
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("path", ["/nope", "/sync/api", "/sync/api/extra/", "/async/"])
def test_unknown_path_is_404(client, path):
    assert client.get(path).status_code == 404


def test_fanout_of_one_hundred(client, upstream_api):
    response = client.get("/sync/api_aggregated/", {"delay": "0", "fanout": "100"})
    assert response.status_code == 200
    assert len(response.json()["responses"]) == 100


def test_django_own_400s_are_json():
    """handler400 (too many fields read elsewhere, a SuspiciousOperation ...) answers JSON."""
    from django.test import RequestFactory
    from django.urls import get_resolver

    handler = get_resolver().resolve_error_handler(400)
    response = handler(RequestFactory().get("/"), ValueError("x"))
    assert response.status_code == 400
    assert json.loads(response.content) == {"error": "bad request"}
