"""Who may scrape ``/metrics``: loopback and ``METRICS_ALLOWED_CIDRS``, plus the bearer token.

A request a proxy forwarded is judged by the client the proxy names (``forwarded.py``).
"""

import hmac
import ipaddress

from . import conf
from .forwarded import Address, client_address, networks

_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def address_allowed(address: Address | None) -> bool:
    if address is None:
        return False
    allowed = _LOOPBACK + networks(tuple(conf.allowed_cidrs()))
    return any(address in network for network in allowed)


def token_accepted(authorization: str | None) -> bool:
    expected = conf.bearer_token()
    if not expected:
        return True
    scheme, _, presented = (authorization or "").partition(" ")
    # Constant time, so the response time does not reveal how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), expected.encode()
    )


def scrape_allowed(request) -> bool:
    client = client_address(request.META, tuple(conf.trusted_proxies()))
    return address_allowed(client) and token_accepted(request.headers.get("Authorization"))
