"""METRICS_ENABLED=false takes the middleware out (for overhead comparisons); /metrics stays."""

import json
import os
import subprocess
import sys

import pytest

MIDDLEWARE = "mysite.metrics.middleware.MetricsMiddleware"

# Settings are read from the environment once, at import: each case needs its own process.
PROBE = """
import json
import django
from django.conf import settings
from django.test import Client

django.setup()
client = Client(HTTP_HOST="localhost")  # outside the test runner, "testserver" is not allowed
client.get("/sync/api/", {"delay": "0"})
metrics = client.get("/metrics")
print(json.dumps({
    "middleware": settings.MIDDLEWARE,
    "status": metrics.status_code,
    "counted": b'http_route="/sync/api/"' in metrics.content,
}))
"""


@pytest.mark.parametrize(("value", "enabled"), [("false", False), ("true", True), ("", True)])
def test_metrics_enabled_setting(value, enabled):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "METRICS_ENABLED": value}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    probe = json.loads(result.stdout)
    assert (MIDDLEWARE in probe["middleware"]) is enabled
    if enabled:  # outermost, so its clock covers every other middleware
        assert probe["middleware"][0] == MIDDLEWARE
    assert probe["status"] == 200
    assert probe["counted"] is enabled
