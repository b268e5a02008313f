"""System checks that refuse bad upstream settings at start-up, with the reason."""

import math

import httpx
from django.conf import settings
from django.core.checks import Error, register

from .conf import TRANSPORTS


@register()
def check_upstream_settings(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    url = settings.UPSTREAM_URL
    try:
        parsed = httpx.URL(url)
        valid_url = parsed.scheme in ("http", "https") and bool(parsed.host)
    except (httpx.InvalidURL, TypeError):
        valid_url = False
    if not valid_url:
        errors.append(
            Error(
                f"UPSTREAM_URL={url!r} is not an http:// or https:// URL with a host.",
                hint="Set UPSTREAM_URL to the upstream endpoint, e.g. http://127.0.0.1:8001/api/.",
                id="demo.E001",
            )
        )
    if not _is_positive_number(settings.UPSTREAM_TIMEOUT):
        errors.append(
            Error(
                f"UPSTREAM_TIMEOUT={settings.UPSTREAM_TIMEOUT!r} is not a positive number "
                "of seconds.",
                hint="Set UPSTREAM_TIMEOUT to e.g. 5 or 0.5.",
                id="demo.E002",
            )
        )
    if settings.UPSTREAM_TRANSPORT not in TRANSPORTS:
        errors.append(
            Error(
                f"UPSTREAM_TRANSPORT={settings.UPSTREAM_TRANSPORT!r} is not one of {TRANSPORTS}.",
                id="demo.E003",
            )
        )
    pool = str(settings.UPSTREAM_POOL_SIZE)
    if not (pool.isdigit() and int(pool) >= 1):
        errors.append(
            Error(
                f"UPSTREAM_POOL_SIZE={settings.UPSTREAM_POOL_SIZE!r} is not a whole number >= 1.",
                id="demo.E004",
            )
        )
    return errors


def _is_positive_number(value) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number > 0
