"""Prometheus's configuration, and running a Prometheus server on loopback.

``config_document`` renders the scrape configuration for any targets: ``build`` writes it for
``make observe``'s fixed ports to ``dashboards/prometheus/prometheus.yml``; ``run_prometheus``
writes one for a throwaway server (free port, temporary data), for the tests and the sweep.
Both load the project's rules. The binary is Debian's ``prometheus`` (2.42 here; no feature
newer than that is used).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mysite.launcher import LOOPBACK, RunningProcess, free_port, managed_process

from . import yamlfmt

PACKAGE_DIR = Path(__file__).resolve().parent
PROMETHEUS_DIR = PACKAGE_DIR / "prometheus"
CONFIG_PATH = PROMETHEUS_DIR / "prometheus.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"

# Job names: the dashboards' variables default to whatever jobs exist, these are ours.
APP_JOB = "django"
UPSTREAM_JOB = "upstream"
LOCUST_JOB = "locust"

# One second: load tests are short, and a rate needs several samples inside the run.
SCRAPE_INTERVAL = 1.0
METRICS_PATH = "/metrics"

INSTALL_HINT = (
    "Prometheus is not installed: run `scripts/ensure-system-packages prometheus=prometheus "
    "promtool=prometheus` (Debian: sudo apt-get install prometheus)."
)


class PrometheusMissing(RuntimeError):
    """The ``prometheus``/``promtool`` binary is not on PATH; the message says how to install it."""


@dataclass(frozen=True)
class ScrapeTarget:
    """One ``host:port`` scraped as ``job``, with extra target labels if any.

    ``honor_labels``: labels the target exposes (``job`` included) win over the target's own,
    as for a gateway that scrapes on others' behalf (the sweep's relay labels each cell).
    """

    job: str
    address: str
    metrics_path: str = METRICS_PATH
    labels: Mapping[str, str] = field(default_factory=dict)
    honor_labels: bool = False

    @classmethod
    def from_url(cls, job: str, url: str, **labels: str) -> ScrapeTarget:
        """``http://host:port`` (a ``RunningProcess.url``) scraped at ``/metrics`` as ``job``."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.port:
            raise ValueError(f"expected http://host:port, not {url!r}")
        return cls(job, parts.netloc, labels=labels)


def default_targets(
    app: str = f"{LOOPBACK}:8000",
    upstream: str = f"{LOOPBACK}:8001",
    locust: str = f"{LOOPBACK}:9646",
) -> list[ScrapeTarget]:
    """What ``make observe`` scrapes: ``make run``, the upstream's port and Locust's exporter."""
    return [
        ScrapeTarget(APP_JOB, app),
        ScrapeTarget(UPSTREAM_JOB, upstream),
        ScrapeTarget(LOCUST_JOB, locust),
    ]


def duration(seconds: float) -> str:
    """A Prometheus duration: ``1s``, ``1500ms``."""
    milliseconds = round(seconds * 1000)
    if milliseconds <= 0:
        raise ValueError(f"a duration must be positive, not {seconds!r}")
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


def config_document(
    targets: Sequence[ScrapeTarget],
    scrape_interval: float = SCRAPE_INTERVAL,
    rule_files: Sequence[str] = ("rules/*.yml",),
) -> dict[str, Any]:
    """The configuration as data: one scrape job per distinct job name, in the given order."""
    interval = duration(scrape_interval)
    jobs: dict[tuple[str, str, bool], list[ScrapeTarget]] = {}
    for target in targets:
        jobs.setdefault((target.job, target.metrics_path, target.honor_labels), []).append(target)
    if len({job for job, _, _ in jobs}) != len(jobs):
        raise ValueError("one job cannot scrape two metrics paths or honour labels only in part")
    scrape_configs = []
    for (job, metrics_path, honor_labels), members in jobs.items():
        static_configs = []
        for target in members:
            static: dict[str, Any] = {"targets": [target.address]}
            if target.labels:
                static["labels"] = dict(sorted(target.labels.items()))
            static_configs.append(static)
        scrape_config: dict[str, Any] = {"job_name": job, "metrics_path": metrics_path}
        if honor_labels:
            scrape_config["honor_labels"] = True
        scrape_configs.append(scrape_config | {"static_configs": static_configs})
    return {
        "global": {
            "scrape_interval": interval,
            # A slow scrape is dropped rather than allowed to overlap the next one.
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": list(rule_files),
        "scrape_configs": scrape_configs,
    }


def render_config(
    targets: Sequence[ScrapeTarget],
    scrape_interval: float = SCRAPE_INTERVAL,
    rule_files: Sequence[str] = ("rules/*.yml",),
) -> str:
    header = "# Generated by dashboards/prometheus_server.py (`make dashboards`): edit that.\n"
    return header + yamlfmt.dump(config_document(targets, scrape_interval, rule_files))


def binary(name: str = "prometheus") -> str:
    path = shutil.which(name)
    if path is None:
        raise PrometheusMissing(INSTALL_HINT)
    return path


def server_argv(config: Path, data_dir: Path, port: int, host: str = LOOPBACK) -> list[str]:
    return [
        binary(),
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address={host}:{port}",
        "--storage.tsdb.retention.time=7d",
        "--log.level=warn",
    ]


@dataclass
class PrometheusServer:
    """A running Prometheus: ``url`` is its base URL, for ``query.PrometheusClient``."""

    url: str
    port: int
    config_path: Path
    data_dir: Path
    scrape_interval: float
    process: RunningProcess

    def log_tail(self, lines: int = 30) -> str:
        return self.process.log_tail(lines)


@contextlib.contextmanager
def run_prometheus(
    targets: Sequence[ScrapeTarget],
    *,
    scrape_interval: float = SCRAPE_INTERVAL,
    port: int | None = None,
    rules: bool = True,
    ready_timeout: float = 60.0,
    log_dir: Path | None = None,
) -> Iterator[PrometheusServer]:
    """A throwaway Prometheus on loopback scraping ``targets``, for the block's duration.

    Free port unless given, a temporary configuration and data directory (both removed
    afterwards), the project's rules unless ``rules=False``. Yields once ``/-/ready`` answers;
    the server is always stopped. Raises ``PrometheusMissing`` when there is no binary.
    """
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="prometheus-"))
    try:
        config = workdir / "prometheus.yml"
        data_dir = workdir / "data"
        rule_files = [str(RULES_DIR / "*.yml")] if rules else []
        config.write_text(render_config(targets, scrape_interval, rule_files))
        url = f"http://{LOOPBACK}:{port}"
        with managed_process(
            f"prometheus-{port}",
            server_argv(config, data_dir, port),
            url,
            health_path="/-/ready",
            ready_timeout=ready_timeout,
            log_dir=log_dir,
        ) as running:
            yield PrometheusServer(url, port, config, data_dir, scrape_interval, running)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
