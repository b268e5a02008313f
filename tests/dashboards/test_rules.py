"""The Prometheus configuration and rules pass promtool, and the rules' unit tests pass."""

from __future__ import annotations

import subprocess

import pytest

from dashboards import rule_tests, rules
from dashboards.prometheus_server import (
    CONFIG_PATH,
    RULE_TESTS_DIR,
    RULES_DIR,
    ScrapeTarget,
    config_document,
    duration,
    render_config,
)


def promtool_run(promtool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *args], capture_output=True, text=True, check=False)


def test_committed_config_is_valid(promtool):
    result = promtool_run(promtool, "check", "config", str(CONFIG_PATH))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_rendered_throwaway_config_is_valid(promtool, tmp_path):
    targets = [
        ScrapeTarget("django", "127.0.0.1:1234", labels={"server": "uvicorn", "workers": "2"}),
        ScrapeTarget("django", "127.0.0.1:1235"),
        ScrapeTarget("locust", "127.0.0.1:1236"),
    ]
    config = tmp_path / "prometheus.yml"
    config.write_text(render_config(targets, 0.5, [str(RULES_DIR / "*.yml")]))
    result = promtool_run(promtool, "check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_rules_are_valid(promtool):
    files = sorted(str(path) for path in RULES_DIR.glob("*.yml"))
    assert files
    result = promtool_run(promtool, "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass(promtool):
    files = sorted(str(path) for path in RULE_TESTS_DIR.glob("*.yml"))
    assert files
    result = promtool_run(promtool, "test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test():
    tested = {
        case["alertname"]
        for test in rule_tests.tests_document()["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert tested == {rule["alert"] for rule in rules.alert_rules()}


def test_targets_of_one_job_share_a_scrape_config():
    document = config_document(
        [ScrapeTarget("a", "h:1"), ScrapeTarget("b", "h:2"), ScrapeTarget("a", "h:3")]
    )
    jobs = [(c["job_name"], c["static_configs"]) for c in document["scrape_configs"]]
    assert jobs == [
        ("a", [{"targets": ["h:1"]}, {"targets": ["h:3"]}]),
        ("b", [{"targets": ["h:2"]}]),
    ]
    with pytest.raises(ValueError, match="metrics path"):
        config_document([ScrapeTarget("a", "h:1"), ScrapeTarget("a", "h:2", "/other")])


@pytest.mark.parametrize(
    ("seconds", "text"), [(1, "1s"), (1.0, "1s"), (0.5, "500ms"), (15, "15s"), (1.25, "1250ms")]
)
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_duration_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        duration(0)
