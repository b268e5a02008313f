"""One pooled client per worker and event loop, reused by every request, closed at shutdown."""

import asyncio

import httpx
import pytest
from django.test import override_settings
from httpx_aiohttp import AiohttpTransport

from mysite.demo import bodies, upstream
from mysite.demo.deadline import DeadlineBackend
from mysite.demo.upstream import CallResult, FanoutResult


async def test_a_serving_loop_shares_one_client_until_shutdown():
    await upstream.adopt_serving_loop()
    async with upstream.async_client() as first, upstream.async_client() as second:
        assert first is second
    assert not first.is_closed
    await upstream.close_clients()
    assert first.is_closed
    async with upstream.async_client() as third:
        assert third is not first
    await upstream.close_clients()


async def test_a_loop_that_lives_for_one_request_closes_its_client_with_it():
    # An async view under WSGI runs on a new event loop per request: nothing may stay behind.
    async with upstream.async_client() as client:
        assert not client.is_closed
    assert client.is_closed
    assert not any(key[0] is asyncio.get_running_loop() for key in upstream._async_clients)


def test_each_event_loop_gets_its_own_client():
    async def client_and_close():
        client = upstream.get_async_client()
        await upstream.close_clients()
        return client

    assert asyncio.run(client_and_close()) is not asyncio.run(client_and_close())


@override_settings(UPSTREAM_TRANSPORT="aiohttp")
async def test_aiohttp_transport_keeps_the_httpx_api():
    client = upstream.get_async_client()
    assert isinstance(client, httpx.AsyncClient)
    assert isinstance(client._transport, AiohttpTransport)
    await upstream.close_clients()


def test_sync_client_and_pool_are_shared_and_bounded():
    client, executor = upstream._get_sync_pool()
    assert upstream._get_sync_pool() == (client, executor)
    assert executor._max_workers == int(upstream.conf.upstream_pool_size())


@pytest.mark.parametrize(
    ("errors", "status"),
    [
        ([], 200),
        (["timeout"], 504),
        (["timeout", "skipped"], 504),
        (["not_started"], 504),
        (["connect_error"], 502),
        (["503"], 502),
        (["timeout", "connection_lost"], 502),
        (["invalid_response"], 502),
    ],
)
def test_status_of_a_fanout(errors, status):
    calls = [CallResult(0, body={"ok": True})]
    calls += [CallResult(i + 1, error=error) for i, error in enumerate(errors)]
    result = FanoutResult(calls, 1.234)
    assert result.status == status
    body = result.as_json()
    assert body["responses"][0] == {"ok": True}
    assert body["responses"][1:] == [None] * len(errors)
    assert [e["task_id"] for e in body["errors"]] == list(range(1, len(errors) + 1))
    assert body["elapsed"] == 1.23
    assert body["debug_message"] == "fetch executed in 1.23 seconds."


@pytest.mark.parametrize(
    ("errors", "status"), [(["body_too_large"], 502), (["invalid_response"], 502)]
)
def test_a_body_refused_is_a_502(errors, status):
    calls = [CallResult(0, error=errors[0])]
    assert FanoutResult(calls, 0.1).status == status


def test_the_sync_client_keeps_no_cookies_ignores_the_environment_and_has_the_deadline():
    client, _ = upstream._get_sync_pool()
    assert client.trust_env is False
    client.cookies.extract_cookies(
        httpx.Response(
            200,
            headers={"Set-Cookie": "lab_session=a; Path=/"},
            request=httpx.Request("GET", "http://127.0.0.1/"),
        )
    )
    assert len(client.cookies.jar) == 0
    assert isinstance(client._transport._pool._network_backend, DeadlineBackend)


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_the_async_clients_keep_no_cookies_and_ignore_the_environment(transport):
    with override_settings(UPSTREAM_TRANSPORT=transport):
        client = upstream.get_async_client()
    try:
        assert client.trust_env is False
        client.cookies.extract_cookies(
            httpx.Response(
                200,
                headers={"Set-Cookie": "lab_session=a; Path=/"},
                request=httpx.Request("GET", "http://127.0.0.1/"),
            )
        )
        assert len(client.cookies.jar) == 0
    finally:
        await upstream.close_clients()


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"[" * 50_000, "invalid_response"),
        (b"<html>", "invalid_response"),
        (b"[1, 2]", "invalid_response"),
        (b"\xff\xfe", "invalid_response"),
        (b"", "invalid_response"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_named(body, kind):
    with pytest.raises(bodies.BodyError) as raised:
        bodies.parse(body)
    assert raised.value.kind == kind


def test_a_json_object_parses():
    assert bodies.parse(b'{"message": "ok"}') == {"message": "ok"}
