from __future__ import annotations

import pytest

from dashboards.prometheus_server import ScrapeTarget, run_prometheus
from dashboards.query import PrometheusClient, PrometheusError
from loadtests.wait import wait_until
from mysite.launcher import LOOPBACK, free_port


@pytest.mark.live
def test_throwaway_prometheus_runs_with_the_rules_and_is_cleaned_up(prometheus_binary):
    target = ScrapeTarget("nothing", f"{LOOPBACK}:{free_port()}")
    with run_prometheus([target]) as prometheus:
        assert prometheus.config_path.exists()
        with PrometheusClient(prometheus.url) as client:
            assert client.query("vector(1)")[0]["value"][1] == "1"
            # Targets are discovered just after start: poll briefly for the one configured.
            targets = wait_until(client.targets, 10, 0.05) or []
            assert [t["labels"]["job"] for t in targets] == ["nothing"]
            assert {group["name"] for group in client.rule_groups()} == {
                "django-async-lab-recording",
                "django-async-lab-alerts",
            }
            with pytest.raises(PrometheusError, match="bad_data"):
                client.query("sum(")
        process = prometheus.process.process
    assert process.poll() is not None
    assert not prometheus.config_path.parent.exists()
