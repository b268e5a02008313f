"""The client a request comes from, when proxies may stand between it and the server.

The model (docs/DEPLOYMENT.md, "`/metrics` and a reverse proxy on the same host"):

- A request without forwarding headers (``Forwarded``, ``X-Forwarded-For``, ``X-Real-IP``) is
  judged by the address of the connection's peer.
- A request with any of them is judged by the client the proxies name, and only when the peer
  is a proxy that ``METRICS_TRUSTED_PROXIES`` lists. The chain is read from the right (the
  entry the nearest proxy wrote) past every trusted proxy to the first address that is not
  one. Every forwarding header present must name that same client.
- Anything else (an untrusted peer that forwards, a header that does not parse, headers that
  disagree) has no client: the caller refuses. Loopback alone proves nothing, since a proxy on
  the same host forwards the whole world from loopback.

Servers are started so that they do not rewrite the peer address themselves (the launcher
sets ``FORWARDED_ALLOW_IPS`` empty), so the judgement is the same on every server kind.
"""

import functools
import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

FORWARDING_HEADERS = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP")


@functools.lru_cache(maxsize=8)
def networks(cidrs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def parse_address(text: str) -> Address | None:
    """An IP address as headers write it: bare, ``[v6]``, ``[v6]:port`` or ``v4:port``."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forwarded_for(value: str) -> list[str]:
    """The ``for=`` of each element of an RFC 7239 ``Forwarded`` header, in order."""
    found = []
    for element in value.split(","):
        fors = [
            pair.partition("=")[2]
            for pair in element.split(";")
            if pair.strip().lower().startswith("for=")
        ]
        found.append(fors[0] if len(fors) == 1 else "")  # none, or ambiguous: unparseable
    return found


def _chain(header: str, value: str) -> list[str]:
    if header == "HTTP_FORWARDED":
        return _forwarded_for(value)
    if header == "HTTP_X_FORWARDED_FOR":
        return value.split(",")
    return [value]  # X-Real-IP: one address, set by the proxy


def _client_in_chain(entries: list[str], trusted: tuple) -> Address | None:
    addresses = [parse_address(entry) for entry in entries]
    if not addresses or None in addresses:
        return None
    for address in reversed(addresses):
        if not any(address in network for network in trusted):
            return address
    return addresses[0]  # every hop was a trusted proxy: the first one is the client


def client_address(meta: dict, trusted_cidrs: tuple[str, ...]) -> Address | None:
    """The address to judge the request by; None when it cannot be trusted."""
    peer = parse_address(meta.get("REMOTE_ADDR") or "")
    present = [header for header in FORWARDING_HEADERS if meta.get(header)]
    if peer is None or not present:
        return peer
    trusted = networks(trusted_cidrs)
    if not any(peer in network for network in trusted):
        return None
    clients = {_client_in_chain(_chain(header, meta[header]), trusted) for header in present}
    return clients.pop() if len(clients) == 1 else None
