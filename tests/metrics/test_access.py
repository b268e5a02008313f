"""Who may scrape /metrics: loopback and METRICS_ALLOWED_CIDRS, plus the bearer token when set."""

import hmac
import io

import pytest
from django.core.handlers.asgi import ASGIRequest
from django.test import override_settings

from mysite.metrics import access

TOKEN = "s3cret-token-for-tests"


@pytest.mark.parametrize("address", ["127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"])
def test_loopback_may_scrape(client, address):
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == 200


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.9", "2001:db8::1", "", "not-an-ip"])
def test_anyone_else_is_refused(client, address):
    response = client.get("/metrics", REMOTE_ADDR=address)
    assert response.status_code == 403
    assert "error" in response.json()


@override_settings(METRICS_ALLOWED_CIDRS=["10.0.0.0/8", "2001:db8::/32"])
@pytest.mark.parametrize(
    ("address", "status"),
    [("10.1.2.3", 200), ("::ffff:10.9.9.9", 200), ("2001:db8::1", 200), ("11.0.0.1", 403)],
)
def test_allowed_networks_may_scrape(client, address, status):
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == status


@override_settings(METRICS_BEARER_TOKEN=TOKEN)
@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),
        (None, 403),
        ("Bearer", 403),
        ("Bearer wrong", 403),
        (f"Bearer {TOKEN}x", 403),
        (f"Basic {TOKEN}", 403),
        (TOKEN, 403),
    ],
)
def test_token_is_required_when_set(client, authorization, status):
    headers = {"Authorization": authorization} if authorization else {}
    assert client.get("/metrics", headers=headers).status_code == status


@override_settings(METRICS_BEARER_TOKEN=TOKEN, METRICS_ALLOWED_CIDRS=["10.0.0.0/8"])
def test_token_and_address_are_both_required(client):
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/metrics", headers=good, REMOTE_ADDR="10.0.0.1").status_code == 200
    assert client.get("/metrics", headers=good, REMOTE_ADDR="172.16.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.1").status_code == 403


@override_settings(METRICS_BEARER_TOKEN=TOKEN)
def test_token_is_compared_in_constant_time(monkeypatch):
    calls, original = [], hmac.compare_digest

    def compare_digest(a, b):
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(access.hmac, "compare_digest", compare_digest)
    assert access.token_accepted(f"Bearer {TOKEN}")
    assert not access.token_accepted("Bearer guess")
    assert calls == [(TOKEN.encode(), TOKEN.encode()), (b"guess", TOKEN.encode())]


@pytest.mark.parametrize(("address", "allowed"), [("::1", True), ("10.1.2.3", False)])
def test_asgi_client_address_is_held_to_the_same_rules(address, allowed):
    # Under ASGI, REMOTE_ADDR comes from the scope's client, as the server fills it in.
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "query_string": b"",
        "headers": [],
        "client": (address, 4321),
    }
    assert access.scrape_allowed(ASGIRequest(scope, io.BytesIO())) is allowed


# --- behind a proxy ------------------------------------------------------------------------------

PROXY = "127.0.0.1"
OUTSIDE = "203.0.113.9"


def scrape_via(client, peer: str = PROXY, **headers) -> int:
    return client.get("/metrics", REMOTE_ADDR=peer, headers=headers).status_code


FORWARDED_OUTSIDE = [
    {"X-Forwarded-For": OUTSIDE},
    {"X-Forwarded-For": f"127.0.0.1, {OUTSIDE}"},  # a client's own claim, then the proxy's entry
    {"X-Real-IP": OUTSIDE},
    {"Forwarded": f"for={OUTSIDE};proto=https"},
    {"Forwarded": f'for="{OUTSIDE}:4711"'},
    {"X-Forwarded-For": OUTSIDE, "X-Real-IP": OUTSIDE, "Forwarded": f"for={OUTSIDE}"},
]


@pytest.mark.parametrize("headers", FORWARDED_OUTSIDE)
def test_a_forwarded_request_from_an_untrusted_peer_is_refused_even_on_loopback(client, headers):
    assert scrape_via(client, **headers) == 403


@pytest.mark.parametrize("claimed", ["127.0.0.1", "::1", "[::1]:80"])
@pytest.mark.parametrize("header", ["X-Forwarded-For", "X-Real-IP", "Forwarded"])
def test_forwarding_headers_from_an_untrusted_peer_are_refused_even_when_they_say_loopback(
    client, header, claimed
):
    value = f'for="{claimed}"' if header == "Forwarded" else claimed
    assert scrape_via(client, **{header: value}) == 403


@override_settings(METRICS_TRUSTED_PROXIES=["127.0.0.1/32"])
@pytest.mark.parametrize("headers", FORWARDED_OUTSIDE)
def test_a_trusted_proxy_forwarding_an_outside_client_is_refused(client, headers):
    assert scrape_via(client, **headers) == 403


@override_settings(
    METRICS_TRUSTED_PROXIES=["127.0.0.1/32"], METRICS_ALLOWED_CIDRS=["203.0.113.0/24"]
)
@pytest.mark.parametrize("headers", FORWARDED_OUTSIDE)
def test_a_trusted_proxy_forwarding_an_allowed_client_is_served(client, headers):
    assert scrape_via(client, **headers) == 200


@override_settings(METRICS_TRUSTED_PROXIES=["127.0.0.1/32", "10.0.0.0/8"])
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"X-Forwarded-For": "127.0.0.1"}, 200),  # a client on the proxy's own host
        ({"X-Forwarded-For": f"{OUTSIDE}, 10.0.0.2"}, 403),  # two trusted hops, then outside
        ({"X-Forwarded-For": "127.0.0.1, 10.0.0.2"}, 200),
        ({"X-Forwarded-For": "not-an-ip"}, 403),
        ({"X-Forwarded-For": f"{OUTSIDE}, "}, 403),
        ({"Forwarded": "for=unknown"}, 403),
        ({"Forwarded": "for=_hidden"}, 403),
        ({"Forwarded": "proto=https"}, 403),
        # Headers that disagree: a client-supplied X-Real-IP a proxy passed through unchanged.
        ({"X-Forwarded-For": OUTSIDE, "X-Real-IP": "127.0.0.1"}, 403),
        ({"X-Forwarded-For": OUTSIDE, "Forwarded": "for=127.0.0.1"}, 403),
    ],
)
def test_the_chain_is_read_from_the_right_and_must_agree(client, headers, status):
    assert scrape_via(client, **headers) == status


@override_settings(METRICS_TRUSTED_PROXIES=["10.0.0.0/8"])
def test_a_peer_outside_the_trusted_proxies_cannot_forward(client):
    assert scrape_via(client, "192.0.2.1", **{"X-Forwarded-For": "127.0.0.1"}) == 403
    assert scrape_via(client, "10.0.0.7", **{"X-Forwarded-For": "127.0.0.1"}) == 200
