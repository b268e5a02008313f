"""The demo app's settings, read at use so ``override_settings`` applies in tests."""

from django.conf import settings

TRANSPORTS = ("httpx", "aiohttp")
# FANOUT_DEADLINE when it is not set, in UPSTREAM_TIMEOUTs: the sequential baseline's default
# 10 calls of 1 s take about 10 s, within the default 3 x 5 s.
FANOUT_DEADLINE_IN_TIMEOUTS = 3


def upstream_url() -> str:
    return settings.UPSTREAM_URL


def upstream_timeout() -> float:
    """Seconds allowed for one upstream call; ``checks.py`` refuses values that do not parse."""
    return float(settings.UPSTREAM_TIMEOUT)


def fanout_deadline() -> float:
    """Seconds a fan-out request may take in all; ``checks.py`` refuses values that do not parse."""
    configured = settings.FANOUT_DEADLINE
    if configured in ("", None):
        return FANOUT_DEADLINE_IN_TIMEOUTS * upstream_timeout()
    return float(configured)


def upstream_transport() -> str:
    return settings.UPSTREAM_TRANSPORT


def upstream_pool_size() -> int:
    return int(settings.UPSTREAM_POOL_SIZE)


def upstream_max_body_bytes() -> int:
    """The largest upstream body a call accepts; ``checks.py`` refuses values that do not parse."""
    return int(settings.UPSTREAM_MAX_BODY_BYTES)
