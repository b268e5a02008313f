"""System checks that refuse bad upstream settings at start-up, with the reason."""

import math

import httpx
from django.conf import settings
from django.core.checks import Error, Warning, register

from .conf import TRANSPORTS
from .selfcall import ADVICE, DEADLOCK, targets_this_app


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
    deadline = settings.FANOUT_DEADLINE
    if deadline not in ("", None) and not _is_positive_number(deadline):
        errors.append(
            Error(
                f"FANOUT_DEADLINE={deadline!r} is not a positive number of seconds.",
                hint="Set FANOUT_DEADLINE to e.g. 15, or leave it empty for 3 x UPSTREAM_TIMEOUT.",
                id="demo.E006",
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
    cap = str(settings.UPSTREAM_MAX_BODY_BYTES)
    if not (cap.isdigit() and int(cap) >= 1):
        errors.append(
            Error(
                f"UPSTREAM_MAX_BODY_BYTES={settings.UPSTREAM_MAX_BODY_BYTES!r} is not a whole "
                "number of bytes >= 1.",
                id="demo.E005",
            )
        )
    return errors


@register()
def check_upstream_is_not_this_app(app_configs=None, **kwargs) -> list[Warning]:
    """The default UPSTREAM_URL calls this app itself, which deadlocks under a fixed thread
    count; a running worker also logs it when it sees the call arrive on its own port."""
    if not targets_this_app(settings.UPSTREAM_URL):
        return []
    return [Warning(DEADLOCK.format(url=settings.UPSTREAM_URL), hint=ADVICE, id="demo.W001")]


def _is_positive_number(value) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number > 0
