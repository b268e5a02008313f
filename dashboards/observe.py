"""``make observe``: a Prometheus on http://127.0.0.1:9090 for people watching a load test.

It scrapes, every second, the app that ``make run`` serves (127.0.0.1:8000), the upstream's
port (127.0.0.1:8001) and the Locust exporter (127.0.0.1:9646, served by ``make locust``), with
the project's recording and alert rules; data under ``var/prometheus``. It prints the targets'
health as it changes, and runs until Ctrl-C, then stops Prometheus.

    python -m dashboards.observe [--app HOST:PORT] [--upstream HOST:PORT] [--locust HOST:PORT]

With the default targets it runs ``dashboards/prometheus/prometheus.yml`` as committed;
otherwise it writes a configuration for the given ones next to the data directory.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import FrameType

from mysite.launcher import LOOPBACK, ServerFailed, managed_process

from .prometheus_server import (
    APP_JOB,
    CONFIG_PATH,
    LOCUST_JOB,
    RULES_DIR,
    SCRAPE_INTERVAL,
    UPSTREAM_JOB,
    PrometheusMissing,
    default_targets,
    render_config,
    server_argv,
)
from .query import PrometheusClient, PrometheusError

DEFAULT_PORT = 9090  # Prometheus's own default: what people type
DEFAULT_DATA_DIR = Path("var/prometheus")
HEALTH_POLL = 2.0  # seconds between looks at the targets' health
# How to bring up each job's target when Prometheus finds it down.
BRING_UP = {
    APP_JOB: "start the app: make run",
    UPSTREAM_JOB: "make run starts the upstream beside the app "
    "(or: python -m loadtests.upstream_server)",
    LOCUST_JOB: "start Locust, whose exporter it is: make locust",
}


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _report_health(client: PrometheusClient, seen: dict[str, str]) -> None:
    try:
        targets = client.targets()
    except PrometheusError:
        return
    for target in targets:
        key = f"{target['labels'].get('job')} {target['scrapeUrl']}"
        health = target["health"]
        if health == "unknown" or seen.get(key) == health:
            continue
        seen[key] = health
        error = f" ({target['lastError']})" if target.get("lastError") else ""
        hint = BRING_UP.get(target["labels"].get("job", "")) if health == "down" else None
        print(
            f"  {key}: {health}{error}" + (f"; to bring it up, {hint}" if hint else ""), flush=True
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dashboards.observe", description=__doc__.split("\n\n")[0]
    )
    defaults = {target.job: target.address for target in default_targets()}
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default %(default)s")
    parser.add_argument("--app", default=defaults[APP_JOB], help="default %(default)s")
    parser.add_argument("--upstream", default=defaults[UPSTREAM_JOB], help="default %(default)s")
    parser.add_argument("--locust", default=defaults[LOCUST_JOB], help="default %(default)s")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="Prometheus's data; default %(default)s",
    )
    args = parser.parse_args(argv)

    targets = default_targets(args.app, args.upstream, args.locust)
    data_dir = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if targets == default_targets():
        config = CONFIG_PATH
    else:
        config = data_dir.with_name(data_dir.name + ".yml")
        config.write_text(render_config(targets, SCRAPE_INTERVAL, [str(RULES_DIR / "*.yml")]))
    if port_in_use(LOOPBACK, args.port):
        print(
            f"Port {args.port} on {LOOPBACK} is taken: another Prometheus (Debian's service? "
            "`sudo systemctl stop prometheus`) or `make observe` already runs there. Stop it or "
            "pass --port.",
            file=sys.stderr,
        )
        return 1
    try:
        argv_ = server_argv(config, data_dir, args.port)
    except PrometheusMissing as exc:
        print(exc, file=sys.stderr)
        return 1

    _stop_on_sigterm()
    url = f"http://{LOOPBACK}:{args.port}"
    log_dir = data_dir.parent
    try:
        with managed_process(
            "prometheus", argv_, url, health_path="/-/ready", log_dir=log_dir
        ) as running:
            print(f"Prometheus on {url} (config {config}, data {data_dir}, log {running.log_path})")
            for target in targets:
                print(f"  scraping {target.job} at http://{target.address}{target.metrics_path}")
            print("Ctrl-C stops it. Target health as it changes:", flush=True)
            seen: dict[str, str] = {}
            with PrometheusClient(url, timeout=5) as client:
                while True:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        code = running.process.wait(timeout=HEALTH_POLL)
                        print(f"Prometheus exited with {code}:\n{running.log_tail()}")
                        return 1
                    _report_health(client, seen)
    except KeyboardInterrupt:
        print("\nStopped Prometheus.")
        return 0
    except ServerFailed as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
