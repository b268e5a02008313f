"""The async-native SecurityMiddleware: Django's headers and redirect, no thread hop, and the
deploy checks of its settings still run."""

import threading

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from mysite.security import SecurityMiddleware


@pytest.mark.parametrize("path", ["/async/api/?delay=0", "/sync/api/?delay=0", "/healthz"])
async def test_security_headers_on_every_kind_of_view(async_client, path):
    response = await async_client.get(path)
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@override_settings(SECURE_SSL_REDIRECT=True)
async def test_ssl_redirect_still_applies(async_client):
    response = await async_client.get("/async/api/?delay=0")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


async def test_hooks_run_on_the_event_loop_thread(async_client, monkeypatch):
    seen = []
    original = SecurityMiddleware.process_response

    def recording(self, request, response):
        seen.append(threading.get_ident())
        return original(self, request, response)

    monkeypatch.setattr(SecurityMiddleware, "process_response", recording)
    response = await async_client.get("/async/api/?delay=0")
    assert response.status_code == 200
    assert seen == [threading.get_ident()]


def deploy_warnings():
    messages = run_checks(include_deployment_checks=True)
    return {m.id for m in messages if m.id.startswith("security") and not m.is_silenced()}


def test_deploy_checks_still_flag_unset_https_settings():
    assert {"security.W004", "security.W008"} <= deploy_warnings()


@override_settings(
    SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=31536000, SECURE_HSTS_INCLUDE_SUBDOMAINS=True
)
def test_deploy_checks_pass_once_https_settings_are_set():
    assert deploy_warnings() == set()


def proxy_messages():
    return {m.id for m in run_checks(include_deployment_checks=True) if m.id.startswith("mysite.")}


@pytest.mark.parametrize(
    "behind_proxy",
    [{"METRICS_TRUSTED_PROXIES": ["127.0.0.1/32"]}, {"SECURE_PROXY_SSL_HEADER": ("HTTP_X", "y")}],
)
def test_deploy_check_warns_behind_a_proxy_without_a_metrics_token(behind_proxy):
    with override_settings(**behind_proxy):
        assert "mysite.W001" in proxy_messages()
    with override_settings(**behind_proxy, METRICS_BEARER_TOKEN="t" * 32):
        assert "mysite.W001" not in proxy_messages()


def test_no_proxy_no_warning():
    assert "mysite.W001" not in proxy_messages()


@override_settings(METRICS_TRUSTED_PROXIES=["127.0.0.1/32", "nginx.local"])
def test_trusted_proxies_must_be_networks():
    assert "mysite.E001" in proxy_messages()
