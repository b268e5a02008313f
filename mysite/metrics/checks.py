"""System checks that refuse bad metrics settings at start-up, with the reason.

Bad ``METRICS_BUCKETS`` are refused earlier, when the instruments are built (``conf.buckets``).
"""

import ipaddress

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
    return errors
