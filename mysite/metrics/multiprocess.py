"""prometheus_client's multi-process mode: which registry a scrape reads, and dead workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set (the launcher claims and wipes it before any worker
starts), each worker writes its values to its own files there and a scrape merges them all.
Counters and histograms of a dead worker stay, so totals never go down; its live gauges
(in-flight requests, loop lag) must go, or a killed worker would count forever. Every server
kind relies on the scrape's own liveness check for workers killed without notice (granian and
uvicorn have no exit hook; gunicorn's ``child_exit`` does it at once).
"""

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.core import GaugeMetricFamily

from . import compaction, names
from .filenames import LIVE_GAUGE_FILE
from .liveness import WriterLiveness, is_alive

__all__ = ["forget_dead_processes", "is_alive", "mark_process_dead", "scrape_registry"]


def directory() -> Path | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(path) if path else None


def scrape_registry() -> CollectorRegistry:
    """A registry merging every worker's files, or the process's own when single-process."""
    path = directory()
    if path is None:
        return REGISTRY
    # Judged on this scrape's snapshot of the files (see liveness.py: pid reuse included).
    alive = WriterLiveness(path)
    forget_dead_processes(path, alive)
    # Dead workers' counters and histograms are merged into archives, so the directory stays
    # small; the collector then reads under the lock that keeps it from seeing a half-done merge.
    compaction.compact_quietly(path, alive)
    registry = CollectorRegistry()
    collector = compaction.LockedMultiProcessCollector(registry, path)
    registry.register(_DirectoryHealth(path, collector))
    return registry


class _DirectoryHealth:
    """The directory's own gauges: files set aside by compaction, files this scrape skipped."""

    def __init__(self, path: Path, collector: compaction.LockedMultiProcessCollector):
        self._path, self._collector = path, collector

    def collect(self):
        yield GaugeMetricFamily(
            names.FILES_QUARANTINED,
            "Dead workers' metric files set aside, unreadable or unmergeable (kept there).",
            value=len(compaction.quarantined(self._path)),
        )
        # Runs after the files were read: the registry collects in registration order.
        yield GaugeMetricFamily(
            names.FILES_UNREADABLE,
            "Metric files this scrape could not read or merge (a file being created, damage).",
            value=len(self._collector.unreadable),
        )


def forget_dead_processes(path: Path, alive: Callable[[int], bool] | None = None) -> list[int]:
    """Drop the live gauges of processes that are gone, however they died.

    Servers that call ``mark_process_dead`` on a worker's exit (gunicorn's ``child_exit``, our
    lifespan shutdown) do this already; a worker killed with SIGKILL under uvicorn or granian
    gets no such call, so each scrape checks. Returns the pids it dropped.
    """
    alive = alive or WriterLiveness(path)
    dead = []
    for entry in os.scandir(path):
        match = LIVE_GAUGE_FILE.fullmatch(entry.name)
        if match and not alive(pid := int(match["pid"])) and pid not in dead:
            mark_process_dead(pid, path)
            dead.append(pid)
    return dead


def mark_process_dead(pid: int, path: Path) -> None:
    """prometheus_client's ``mark_process_dead``, safe when another process removes the same
    files at the same moment (two workers scraping, a scrape and gunicorn's ``child_exit``)."""
    with contextlib.suppress(FileNotFoundError):
        multiprocess.mark_process_dead(pid, str(path))


def mark_this_process_dead() -> None:
    path = directory()
    if path is not None:
        mark_process_dead(os.getpid(), path)
