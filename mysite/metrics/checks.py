"""System checks that refuse bad metrics settings at start-up, with the reason."""

import ipaddress
import math

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_metrics_settings(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    for cidr in getattr(settings, "METRICS_ALLOWED_CIDRS", []):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            errors.append(
                Error(
                    f"METRICS_ALLOWED_CIDRS has {cidr!r}, which is not a network.",
                    hint="Use comma-separated networks such as 10.0.0.0/8,192.168.1.7/32.",
                    id="metrics.E001",
                )
            )
    buckets = getattr(settings, "METRICS_BUCKETS", None) or []
    try:
        values = [float(b) for b in buckets]
        valid = all(math.isfinite(v) and v > 0 for v in values) and values == sorted(set(values))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        errors.append(
            Error(
                f"METRICS_BUCKETS={buckets!r} is not a strictly increasing list "
                "of positive seconds.",
                id="metrics.E002",
            )
        )
    return errors
