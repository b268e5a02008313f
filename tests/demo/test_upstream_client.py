"""One pooled client per worker and event loop, reused by every request, closed at shutdown."""

import asyncio

import httpx
import pytest
from django.test import override_settings
from httpx_aiohttp import AiohttpTransport

from mysite.demo import upstream
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
