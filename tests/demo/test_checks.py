"""The system checks refuse bad upstream settings at start-up, and the launcher runs them."""

import subprocess
import sys

import pytest
from django.core.checks import run_checks
from django.test import override_settings


def errors_with(**settings):
    with override_settings(**settings):
        return {error.id: error.msg for error in run_checks() if error.is_serious()}


def test_defaults_pass():
    assert errors_with() == {}


@pytest.mark.parametrize("url", ["ftp://example.com/", "127.0.0.1:8000/api/", "", "http://"])
def test_upstream_url_must_be_http(url):
    assert "demo.E001" in errors_with(UPSTREAM_URL=url)


@pytest.mark.parametrize("timeout", ["0", "-1", "abc", "nan", "inf", ""])
def test_upstream_timeout_must_be_positive_number(timeout):
    errors = errors_with(UPSTREAM_TIMEOUT=timeout)
    assert "demo.E002" in errors
    assert repr(timeout) in errors["demo.E002"]


def test_upstream_transport_is_known():
    assert "demo.E003" in errors_with(UPSTREAM_TRANSPORT="curl")
    assert errors_with(UPSTREAM_TRANSPORT="aiohttp") == {}


@pytest.mark.parametrize("size", ["0", "-3", "ten"])
def test_pool_size_is_positive_integer(size):
    assert "demo.E004" in errors_with(UPSTREAM_POOL_SIZE=size)


def test_launcher_refuses_to_start_on_bad_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mysite.launcher", "--port", "1", "--metrics-dir", str(tmp_path)],
        env={"PATH": "/usr/bin:/bin", "UPSTREAM_TIMEOUT": "soon", "DJANGO_SECRET_KEY": "k" * 50},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "demo.E002" in result.stderr
    assert "UPSTREAM_TIMEOUT='soon'" in result.stderr


@pytest.mark.parametrize("cap", ["0", "-1", "1.5", "abc", ""])
def test_upstream_max_body_bytes_must_be_a_positive_whole_number(cap):
    assert "demo.E005" in errors_with(UPSTREAM_MAX_BODY_BYTES=cap)


def warnings_with(**settings):
    with override_settings(**settings):
        return {message.id for message in run_checks() if not message.is_serious()}


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://127.0.0.1:8000/sync/api/", True),  # the default: this app's own view
        ("http://localhost:9000/async/api/", True),
        ("http://[::1]:8000/sync/api/", True),
        ("http://127.0.0.1:8001/api/", False),  # a path this app does not serve
        ("http://upstream.example:8000/sync/api/", False),  # another host
    ],
)
def test_an_upstream_that_is_this_app_is_warned_about(url, warned):
    assert ("demo.W001" in warnings_with(UPSTREAM_URL=url)) is warned
