"""Security: who may scrape ``/metrics``, production settings, and what a request cannot steer.

Settings are checked in fresh interpreters with a clean environment (this test process has
a test-only secret key in its environment).
"""

import ipaddress
import json
import os
import secrets
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import AsyncClient, Client, override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from mysite.demo import upstream as upstream_client

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_ALLOWED_HOSTS": "lab.example.org",
    # A deployment names its own upstream (the default, the app itself, is warned about).
    "UPSTREAM_URL": "http://upstream.example.org/api/",
}
TOKEN = "s3cret-" + "t" * 32


# --- /metrics refusals --------------------------------------------------------------------------


def scrape(client: Client, remote_addr: str = "127.0.0.1", **headers):
    return client.get("/metrics", REMOTE_ADDR=remote_addr, headers=headers)


@pytest.mark.parametrize(
    "remote_addr", ["10.1.2.3", "192.168.0.7", "8.8.8.8", "::ffff:10.1.2.3", "2001:db8::1", "", "x"]
)
def test_metrics_refuses_addresses_not_allowed(client, remote_addr):
    response = scrape(client, remote_addr)
    assert response.status_code == 403
    assert "# HELP" not in response.content.decode()


def test_metrics_ignores_forwarded_for(client):
    """A client cannot claim loopback in a header: only the connection's address counts."""
    response = scrape(client, "10.1.2.3", **{"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "::1"})
    assert response.status_code == 403


@given(address=st.ip_addresses())
@settings(max_examples=200, deadline=None)
def test_metrics_answers_only_loopback_and_allowed_networks(address):
    allowed = [ipaddress.ip_network("10.20.0.0/16")]
    with override_settings(METRICS_ALLOWED_CIDRS=["10.20.0.0/16"]):
        response = Client().get("/metrics", REMOTE_ADDR=str(address))
    mapped = getattr(address, "ipv4_mapped", None) or address
    expected = mapped.is_loopback or any(mapped in network for network in allowed)
    assert response.status_code == (200 if expected else 403), address


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 403),
        ("", 403),
        ("Bearer", 403),
        ("Bearer wrong", 403),
        (f"Bearer {TOKEN}x", 403),
        (f"Bearer {TOKEN[:-1]}", 403),
        (f"Basic {TOKEN}", 403),
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),
    ],
)
def test_metrics_bearer_token(client, authorization, status):
    headers = {} if authorization is None else {"Authorization": authorization}
    with override_settings(METRICS_BEARER_TOKEN=TOKEN):
        assert scrape(client, **headers).status_code == status
        # The token never makes an address allowed.
        assert scrape(client, "10.1.2.3", **headers).status_code == 403


# --- production settings --------------------------------------------------------------------------


def run_python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """``python *args`` in the repository, with only ``env`` (and PATH, HOME) set."""
    base = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "HOME": os.environ.get("HOME", "/"),
    }
    return subprocess.run(
        [sys.executable, *args],
        env={**base, "DJANGO_SETTINGS_MODULE": "mysite.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


SHOW_DEBUG = [
    "-c",
    "import django; from django.conf import settings; django.setup(); print(settings.DEBUG)",
]
CHECK_DEPLOY = ["manage.py", "check", "--deploy", "--fail-level", "WARNING"]


def test_debug_is_off_by_default():
    result = run_python(SHOW_DEBUG, {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_secret_key_is_required_when_debug_is_off():
    result = run_python(SHOW_DEBUG, {})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY is required" in result.stderr


def test_a_debug_setting_that_is_not_a_boolean_is_refused():
    result = run_python(SHOW_DEBUG, {"DJANGO_DEBUG": "maybe", "DJANGO_SECRET_KEY": "k" * 50})
    assert result.returncode != 0
    assert "DJANGO_DEBUG='maybe' is not a boolean" in result.stderr


def test_check_deploy_is_clean_for_production_settings(figure):
    result = run_python(CHECK_DEPLOY, PRODUCTION_ENV)
    figure(
        "manage.py check --deploy (production env)", result.stdout.strip() or result.stderr.strip()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_still_warns_without_https_settings():
    """The clean result above is the settings', not a check that never runs."""
    env = {"DJANGO_SECRET_KEY": PRODUCTION_ENV["DJANGO_SECRET_KEY"]}
    result = run_python(CHECK_DEPLOY, env)
    assert result.returncode != 0
    assert "security.W004" in result.stderr
    assert "security.W008" in result.stderr


# --- the aggregation views cannot be pointed elsewhere by a request ------------------------------


class Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        self.calls: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.calls.append(self.path)
                query = parse_qs(urlsplit(self.path).query)
                body = json.dumps({"message": "recorded", "task_id": query["task_id"][0]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def recording_server():
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def configured_and_evil():
    with (
        recording_server() as configured,
        recording_server() as evil,
        override_settings(UPSTREAM_URL=configured.url + "/api/", UPSTREAM_TIMEOUT="5"),
    ):
        yield configured, evil


def hostile_query(evil_url: str) -> dict[str, str]:
    return {
        "delay": "0",
        "fanout": "3",
        "url": evil_url + "/steal/",
        "upstream": evil_url,
        "upstream_url": evil_url,
        "UPSTREAM_URL": evil_url,
        "target": evil_url,
        "host": "127.0.0.1:" + evil_url.rsplit(":", 1)[1],
        "next": evil_url,
    }


def hostile_headers(evil_url: str) -> dict[str, str]:
    return {"X-Upstream-Url": evil_url, "Forwarded": f"host={evil_url}", "Referer": evil_url}


def check_calls_went_to_configured(response, configured, evil, calls_before: int):
    assert response.status_code == 200, response.content
    assert [r["message"] for r in response.json()["responses"]] == ["recorded"] * 3
    assert len(configured.calls) == calls_before + 3
    assert all(call.startswith("/api/?") for call in configured.calls)
    assert evil.calls == []


@pytest.mark.parametrize("path", ["/sync/api_aggregated/", "/sync/api_sequential/"])
def test_sync_aggregation_ignores_urls_in_the_request(client, configured_and_evil, path):
    configured, evil = configured_and_evil
    response = client.get(path, hostile_query(evil.url), headers=hostile_headers(evil.url))
    check_calls_went_to_configured(response, configured, evil, 0)


@pytest.mark.parametrize("path", ["/async/api_aggregated/", "/async/aggregate_sync_view/"])
async def test_async_aggregation_ignores_urls_in_the_request(configured_and_evil, path):
    configured, evil = configured_and_evil
    try:
        response = await AsyncClient().get(
            path, hostile_query(evil.url), headers=hostile_headers(evil.url)
        )
    finally:
        await upstream_client.close_clients()
    check_calls_went_to_configured(response, configured, evil, 0)
