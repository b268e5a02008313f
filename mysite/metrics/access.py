"""Who may scrape ``/metrics``: loopback and ``METRICS_ALLOWED_CIDRS``, plus the bearer token."""

import functools
import hmac
import ipaddress

from . import conf

_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@functools.lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple:
    return _LOOPBACK + tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def address_allowed(remote_addr: str | None) -> bool:
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    # An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(conf.allowed_cidrs())))


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
    return address_allowed(request.META.get("REMOTE_ADDR")) and token_accepted(
        request.headers.get("Authorization")
    )
