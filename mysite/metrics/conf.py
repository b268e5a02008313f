"""The metrics app's settings, read at use so ``override_settings`` applies in tests."""

import math

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# OpenTelemetry's advisory boundaries for HTTP durations (0.005 ... 10 s), plus finer ones below
# 5 ms, where hello-world views and upstream calls on loopback land; finer ones just above one
# second, the lab's default delay, so percentiles there are not smeared across (1, 2.5]; and
# coarser ones above 10 s, where the sequential fan-out baseline lands.
DEFAULT_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    1.01,
    1.025,
    1.05,
    1.1,
    1.25,
    1.5,
    2.5,
    5.0,
    7.5,
    10.0,
    15.0,
    20.0,
    30.0,
    60.0,
)

# Requests to these paths are neither timed nor counted: scrapes and health checks would
# otherwise dominate the per-route rates of an idle server.
DEFAULT_EXCLUDED_PATHS = ("/metrics", "/healthz")


def buckets() -> tuple[float, ...]:
    """The histogram boundaries, read once: the instruments are built when the app loads.

    A bad value stops the app there with this message (a system check would run too late).
    """
    configured = getattr(settings, "METRICS_BUCKETS", None)
    if not configured:
        return DEFAULT_BUCKETS
    try:
        values = [float(b) for b in configured]
    except (TypeError, ValueError):
        values = []
    if (
        not values
        or values != sorted(set(values))
        or not all(math.isfinite(v) and v > 0 for v in values)
    ):
        raise ImproperlyConfigured(
            f"METRICS_BUCKETS={configured!r} is not a strictly increasing list of positive "
            "seconds, such as 0.01,0.1,1."
        )
    return tuple(values)


def excluded_paths() -> frozenset[str]:
    return frozenset(getattr(settings, "METRICS_EXCLUDED_PATHS", DEFAULT_EXCLUDED_PATHS))


def allowed_cidrs() -> list[str]:
    return list(getattr(settings, "METRICS_ALLOWED_CIDRS", []))


def bearer_token() -> str:
    return getattr(settings, "METRICS_BEARER_TOKEN", "")


def trusted_proxies() -> list[str]:
    return list(getattr(settings, "METRICS_TRUSTED_PROXIES", []))
