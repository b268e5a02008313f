"""Multi-process metric files for the compaction tests, and the processes that race over them.

Files of "dead" processes carry pids above the kernel's ``pid_max``, which no process can have.
Every value is a multiple of 1/4, so sums are exact whatever order they are added in.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from mysite.metrics import compaction

PID_MAX = int(Path("/proc/sys/kernel/pid_max").read_text())
BUCKETS = ("0.1", "1.0", "+Inf")
ROUTES = ("/sync/api/", "/async/api/", "/async/api_aggregated/")


def impossible_pid(n: int) -> int:
    return PID_MAX + 1 + n


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_values(seed: int) -> dict[str, dict[str, float]]:
    """What one worker leaves behind: a counter and a labelled histogram, by file type."""
    histogram = {}
    for i, route in enumerate(ROUTES):
        labels = (["http_route"], [route])
        for j, le in enumerate(BUCKETS):
            key = mmap_key(
                "latency_seconds",
                "latency_seconds_bucket",
                [*labels[0], "le"],
                [*labels[1], le],
                "Latency.",
            )
            histogram[key] = float((seed + i + j) % 5)
        key = mmap_key("latency_seconds", "latency_seconds_sum", *labels, "Latency.")
        histogram[key] = ((seed * 7 + i) % 13) * 0.25
    counter = {jobs_key(kind): float(seed % 3 + k) * 0.5 for k, kind in enumerate(("a", "b"))}
    return {"counter": counter, "histogram": histogram}


def jobs_key(kind: str) -> str:
    """The key of ``jobs_total{kind=...}``, the counter ``process_values`` writes."""
    return mmap_key("jobs", "jobs_total", ["kind"], [kind], "Jobs.")


def write_counter_file(path: Path, pid: int, jobs: dict[str, float]) -> str:
    """A counter file of ``pid`` holding ``jobs_total`` by kind; returns its name."""
    name = f"counter_{pid}.db"
    mmaped = MmapedDict(str(path / name))
    for kind, value in jobs.items():
        mmaped.write_value(jobs_key(kind), value, 0.0)
    mmaped.close()
    return name


def write_process_files(path: Path, pid: int, seed: int) -> None:
    """Write ``pid``'s files as a finished worker leaves them (a temporary name, then a rename)."""
    for metric_type, values in process_values(seed).items():
        tmp = path / f"writing-{metric_type}-{pid}"
        mmaped = MmapedDict(str(tmp))
        for key, value in values.items():
            mmaped.write_value(key, value, 0.0)
        mmaped.close()
        os.rename(tmp, path / f"{metric_type}_{pid}.db")


def collect(path: Path, locked: bool = True) -> dict[tuple, float]:
    """What a scrape of ``path`` reports: (sample name, labels) -> value."""
    registry = CollectorRegistry()
    if locked:
        compaction.LockedMultiProcessCollector(registry, path)
    else:
        MultiProcessCollector(registry, path=str(path))
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


# --- racing processes (multiprocessing targets, importable under the spawn start method) ----------


def compactor(path: str, first_pid: int, rounds: int, per_round: int, barrier, results) -> None:
    """Add ``per_round`` dead processes' files, compact, repeat; report what it merged."""
    barrier.wait()
    merged = 0
    pid = first_pid
    for _ in range(rounds):
        for _ in range(per_round):
            write_process_files(Path(path), impossible_pid(pid), pid)
            pid += 1
        merged += len(compaction.compact(path, is_alive))
    results.put(("compactor", merged))


def scraper(path: str, expected_final: dict, stop, barrier, results) -> None:
    """Scrape until told to stop; count scrapes, errors, decreases, and excesses over the end."""
    barrier.wait()
    scrapes, errors, decreases, excesses = 0, [], 0, 0
    previous: dict = {}
    while not stop.is_set():
        try:
            compaction.compact(path, is_alive)  # what every scrape does first
            current = collect(Path(path))
        except Exception as exc:  # reported to the test, which fails on any
            errors.append(repr(exc))
            continue
        scrapes += 1
        decreases += sum(1 for key, value in previous.items() if current.get(key, 0.0) < value)
        excesses += sum(1 for key, value in current.items() if value > expected_final.get(key, 0))
        previous = current
        time.sleep(0.001)
    results.put(
        (
            "scraper",
            {
                "scrapes": scrapes,
                "errors": errors[:3],
                "decreases": decreases,
                "excesses": excesses,
            },
        )
    )
