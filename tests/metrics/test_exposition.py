"""The exposition: valid for promtool, OpenMetrics when the scraper asks for it."""

import shutil
import subprocess

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from mysite.metrics import names

# What Prometheus 3 sends when it scrapes.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"
)


def promtool_problems(exposition: str) -> str:
    """What ``promtool check metrics`` says about an exposition (empty when it is clean)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: run scripts/ensure-system-packages promtool=prometheus")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, text=True
    )
    return (result.stdout + result.stderr).strip() or (
        f"promtool exited with {result.returncode}" if result.returncode else ""
    )


def test_promtool_finds_nothing_to_report(client):
    for path in ["/sync/api/?delay=0", "/async/api/?delay=0", "/nope", "/sync/api/?delay=x"]:
        client.get(path)
    client.generic("PURGE", "/sync/api/")
    response = client.get("/metrics")
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.content.decode()
    assert f"# TYPE {names.SERVER_DURATION} histogram" in text
    assert promtool_problems(text) == ""


@pytest.mark.parametrize("accept", [PROMETHEUS_ACCEPT, "application/openmetrics-text"])
def test_openmetrics_when_the_scraper_asks(client, accept):
    client.get("/sync/api/", {"delay": "0"})
    response = client.get("/metrics", headers={"Accept": accept})
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    text = response.content.decode()
    assert text.endswith("# EOF\n")
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert families[names.SERVER_DURATION].type == "histogram"
    assert families[names.SERVER_ACTIVE].type == "gauge"


def test_head_is_allowed_and_other_methods_are_not(client):
    assert client.head("/metrics").status_code == 200
    assert client.generic("POST", "/metrics").status_code == 405
