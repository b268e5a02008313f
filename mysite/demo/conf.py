"""The demo app's settings, read at use so ``override_settings`` applies in tests."""

from django.conf import settings

TRANSPORTS = ("httpx", "aiohttp")


def upstream_url() -> str:
    return settings.UPSTREAM_URL


def upstream_timeout() -> float:
    """Seconds allowed for one upstream call; ``checks.py`` refuses values that do not parse."""
    return float(settings.UPSTREAM_TIMEOUT)


def upstream_transport() -> str:
    return settings.UPSTREAM_TRANSPORT


def upstream_pool_size() -> int:
    return int(settings.UPSTREAM_POOL_SIZE)


def upstream_max_body_bytes() -> int:
    """The largest upstream body a call accepts; ``checks.py`` refuses values that do not parse."""
    return int(settings.UPSTREAM_MAX_BODY_BYTES)
