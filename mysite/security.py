"""Django's SecurityMiddleware, without its thread hops under ASGI.

Django's class is a ``MiddlewareMixin``, which under ASGI runs ``process_request`` and
``process_response`` through ``sync_to_async``: two thread hops a request, measured at 15-20%
of an async hello-world view's throughput here. Both hooks only read settings and set headers,
so this subclass calls them directly on the event loop. Behaviour and settings are Django's.
"""

import ipaddress

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.checks.security import base as security_checks
from django.middleware import security
from django.test.utils import override_settings

DJANGO_SECURITY_MIDDLEWARE = "django.middleware.security.SecurityMiddleware"
THIS_MIDDLEWARE = "mysite.security.SecurityMiddleware"


class SecurityMiddleware(security.SecurityMiddleware):
    async def __acall__(self, request):
        response = self.process_request(request)
        if response is None:
            response = await self.get_response(request)
        return self.process_response(request, response)


# Django's deploy checks of these settings pass silently unless Django's own class is listed.
_SETTINGS_CHECKS = (
    security_checks.check_sts,
    security_checks.check_sts_include_subdomains,
    security_checks.check_sts_preload,
    security_checks.check_content_type_nosniff,
    security_checks.check_ssl_redirect,
    security_checks.check_referrer_policy,
    security_checks.check_cross_origin_opener_policy,
)


@register(Tags.security, deploy=True)
def check_security_settings(app_configs=None, **kwargs):
    """Run Django's own deploy checks as if its class were listed: this one reads the same
    settings, so ``check --deploy`` still says what a deployment has left unset."""
    if THIS_MIDDLEWARE not in settings.MIDDLEWARE:
        return []
    as_django = [
        DJANGO_SECURITY_MIDDLEWARE if m == THIS_MIDDLEWARE else m for m in settings.MIDDLEWARE
    ]
    with override_settings(MIDDLEWARE=as_django):
        return [message for check in _SETTINGS_CHECKS for message in check(app_configs)]


@register()
def check_trusted_proxies(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    for cidr in getattr(settings, "METRICS_TRUSTED_PROXIES", []):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            errors.append(
                Error(
                    f"METRICS_TRUSTED_PROXIES has {cidr!r}, which is not a network.",
                    hint="Use comma-separated networks such as 127.0.0.1/32,10.0.0.0/8.",
                    id="mysite.E001",
                )
            )
    return errors


@register(Tags.security, deploy=True)
def check_metrics_token_behind_proxy(app_configs=None, **kwargs) -> list[Warning]:
    """Behind a proxy, the client address is only as good as the proxy's headers: /metrics
    should also ask for a token."""
    behind_proxy = bool(getattr(settings, "METRICS_TRUSTED_PROXIES", [])) or bool(
        settings.SECURE_PROXY_SSL_HEADER
    )
    if not behind_proxy or getattr(settings, "METRICS_BEARER_TOKEN", ""):
        return []
    return [
        Warning(
            "The app is configured as behind a proxy (METRICS_TRUSTED_PROXIES or "
            "DJANGO_BEHIND_TLS_PROXY) and /metrics has no METRICS_BEARER_TOKEN: anyone the "
            "proxy names as an allowed address may scrape it.",
            hint="Set METRICS_BEARER_TOKEN and give it to Prometheus (authorization: "
            "credentials in its scrape config).",
            id="mysite.W001",
        )
    ]
