"""Fixtures of the dashboards' tests: the binaries, and one live stack shared by the live tests.

The live stack is the app under uvicorn with two workers, its upstream answering every other
call with a 503, the session's throwaway PostgreSQL for the database views (tests/conftest.py),
a throwaway Prometheus scraping both and the Locust exporter every second, and one short
headless Locust run of ``locustfile.py`` (every route) with the exporter.
Nothing here is skipped: ``make test`` installs Prometheus and Chromium, and without them these
tests fail saying what to install.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dashboards.prometheus_server import (
    APP_JOB,
    INSTALL_HINT,
    LOCUST_JOB,
    UPSTREAM_JOB,
    PrometheusServer,
    ScrapeTarget,
    run_prometheus,
)
from dashboards.promql import JOB_LABEL, eq, series
from dashboards.query import PrometheusClient
from loadtests.wait import wait_until
from mysite.launcher import LOOPBACK, free_port, serve

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
LOCUST_RUN_SECONDS = 15


def locust_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", *args]


def run_locust(argv: list[str], log: Path, timeout: float) -> subprocess.CompletedProcess:
    with log.open("w") as out:
        return subprocess.run(
            argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
        )


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return path


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return path


@dataclass
class LiveRun:
    prometheus: PrometheusServer
    app_url: str
    start: float
    end: float
    # A moment by which Prometheus had scraped the app again after Locust's end.
    settled: float
    locust_log: str
    # Locust's own final count of the requests it made. From --json-file, written at shutdown:
    # Locust 2.47's --csv statistics are a snapshot of up to a second before the end.
    locust_requests: int

    def client(self) -> PrometheusClient:
        return PrometheusClient(self.prometheus.url)


@pytest.fixture(scope="session")
def live_run(prometheus_binary, upstream, postgres, tmp_path_factory) -> LiveRun:
    """A Locust run against the app, recorded by a throwaway Prometheus that is still up."""
    logs = tmp_path_factory.mktemp("live-dashboards")
    exporter = free_port()
    env = {
        "UPSTREAM_URL": upstream.url + "/fail-odd/",
        "UPSTREAM_TIMEOUT": "2",
        "DATABASE_URL": postgres.url(),
    }
    with serve("uvicorn", 2, env=env, log_dir=logs) as app:
        targets = [
            ScrapeTarget(APP_JOB, urlsplit(app.url).netloc),
            ScrapeTarget(UPSTREAM_JOB, urlsplit(upstream.url).netloc),
            ScrapeTarget(LOCUST_JOB, f"{LOOPBACK}:{exporter}"),
        ]
        with run_prometheus(targets, log_dir=logs) as prometheus:
            start = time.time()
            argv = locust_argv(
                "-u",
                "10",
                "-r",
                "10",
                "-t",
                f"{LOCUST_RUN_SECONDS}s",
                "--host",
                app.url,
                "--exporter-port",
                str(exporter),
                "--only-summary",
                "--exit-code-on-error",
                "0",
                "--json-file",
                str(logs / "locust-stats"),
            )
            log = logs / "locust.log"
            result = run_locust(argv, log, timeout=LOCUST_RUN_SECONDS + 60)
            end = time.time()
            assert result.returncode == 0, log.read_text()[-3000:]
            stats = json.loads((logs / "locust-stats.json").read_text())
            sent = sum(entry["num_requests"] for entry in stats)
            settled = wait_for_scrape_after(prometheus, APP_JOB, end)
            yield LiveRun(prometheus, app.url, start, end, settled, log.read_text(), sent)


def wait_for_scrape_after(prometheus: PrometheusServer, job: str, moment: float) -> float:
    """Poll until Prometheus holds a scrape of ``job`` taken after ``moment``; return now."""
    expr = f"max(timestamp({series('up', eq(JOB_LABEL, job))}))"
    with PrometheusClient(prometheus.url) as client:

        def scraped() -> bool:
            latest = client.query(expr)
            return bool(latest) and float(latest[0]["value"][1]) > moment

        if wait_until(scraped, 30):
            return time.time()
    raise AssertionError(f"Prometheus did not scrape {job} after {moment}")
