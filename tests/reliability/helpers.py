"""What the reliability tests share: scraping, raw HTTP, worker processes, Locust as load."""

from __future__ import annotations

import contextlib
import csv
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from mysite.launcher import RunningProcess, stop_process_group

LOCUSTFILE = Path(__file__).with_name("locustfile.py")

# (sample name, sorted label pairs) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_exposition(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape(url: str, timeout: float = 10.0) -> Samples:
    response = httpx.get(url + "/metrics", timeout=timeout)
    response.raise_for_status()
    return parse_exposition(response.text)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(
        value
        for (sample, pairs), value in samples.items()
        if sample == name and wanted <= set(pairs)
    )


def counters(samples: Samples) -> Samples:
    """The samples that may never go down: histogram buckets, counts and sums, counters."""
    return {
        key: value
        for key, value in samples.items()
        if key[0].endswith(("_bucket", "_count", "_sum", "_total"))
    }


def decreases(before: Samples, after: Samples) -> list[str]:
    """Every monotonic sample of ``before`` that is lower, or gone, in ``after``."""
    found = []
    for key, value in counters(before).items():
        if after.get(key, float("-inf")) < value:
            found.append(f"{key}: {value} -> {after.get(key)}")
    return found


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``timeout``.

    For conditions with no event to wait on (a restarted worker, a metric reaching a value).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(interval)


# --- processes ----------------------------------------------------------------------------------


def worker_processes(server: RunningProcess) -> list[psutil.Process]:
    """The server's worker processes: its children, less multiprocessing's resource tracker."""
    workers = []
    for child in psutil.Process(server.pid).children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.status() != psutil.STATUS_ZOMBIE and not any(
                "resource_tracker" in part for part in child.cmdline()
            ):
                workers.append(child)
    return workers


def worker_pids(server: RunningProcess) -> set[int]:
    return {worker.pid for worker in worker_processes(server)}


def process_tree(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    return []


def metric_files(metrics_dir: Path) -> list[str]:
    return sorted(name for name in os.listdir(metrics_dir) if name.endswith(".db"))


# --- raw HTTP ------------------------------------------------------------------------------------


def raw_exchange(url: str, request: bytes, timeout: float = 15.0) -> int | None:
    """Send ``request`` as is; the response's status, or None when the server closed without one."""
    host, _, port = httpx.URL(url).netloc.decode().partition(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        # Refused while we were still sending: a status may still be waiting to be read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        head = b""
        try:
            while b"\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                head += chunk
        except ConnectionResetError:
            pass
    if not head.startswith(b"HTTP/1."):
        return None
    return int(head.split(b" ", 2)[1])


# --- Locust as the load -------------------------------------------------------------------------


@dataclass
class LocustRun:
    process: subprocess.Popen
    csv_prefix: Path
    requests: int = 0
    failures: int = 0
    failures_by_error: dict[str, int] | None = None

    def read_stats(self) -> None:
        with open(f"{self.csv_prefix}_stats.csv", newline="") as stats:
            for row in csv.DictReader(stats):
                if row["Name"] == "Aggregated":
                    self.requests = int(row["Request Count"])
                    self.failures = int(row["Failure Count"])
        self.failures_by_error = {}
        with open(f"{self.csv_prefix}_failures.csv", newline="") as failures:
            for row in csv.DictReader(failures):
                self.failures_by_error[row["Error"]] = int(row["Occurrences"])


@contextlib.contextmanager
def locust_load(
    host: str, user_classes: str, users: int, out_dir: Path, run_time: str = "10m"
) -> Iterator[LocustRun]:
    """Locust, headless, against ``host`` until the block ends; its stats are read at the end.

    ``user_classes``: one or more of the locustfile's classes, space-separated.
    """
    csv_prefix = out_dir / f"locust-{user_classes.replace(' ', '-')}"
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        *user_classes.split(),
        "--headless",
        "--host",
        host,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        run_time,
        "--csv",
        str(csv_prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--stop-timeout",
        "2",
    ]
    log = open(f"{csv_prefix}.log", "wb")  # noqa: SIM115  (closed below)
    process = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    run = LocustRun(process, csv_prefix)
    try:
        yield run
    finally:
        # SIGTERM: Locust stops its users, writes the CSV files and exits.
        stop_process_group(process, grace=20)
        log.close()
    run.read_stats()


def read_until_closed(
    sock: socket.socket, limit: float, enough: Callable[[bytes], bool] = lambda _: False
) -> bytes:
    """Everything the server sends until it closes the connection, ``enough(received)`` says
    so, or ``limit`` seconds pass."""
    received, deadline = b"", time.monotonic() + limit
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        while time.monotonic() < deadline and not enough(received):
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received
