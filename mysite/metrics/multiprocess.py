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
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.core import GaugeMetricFamily

from . import compaction, names
from .filenames import LIVE_GAUGE_FILE

# Where the kernel shows processes; a platform without it (macOS, some sandboxes) has none.
PROC = Path("/proc")


def directory() -> Path | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(path) if path else None


def scrape_registry() -> CollectorRegistry:
    """A registry merging every worker's files, or the process's own when single-process."""
    path = directory()
    if path is None:
        return REGISTRY
    forget_dead_processes(path)
    # Dead workers' counters and histograms are merged into archives, so the directory stays
    # small; the collector then reads under the lock that keeps it from seeing a half-done merge.
    compaction.compact_quietly(path, is_alive)
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
            "Dead workers' metric files set aside as unreadable (kept in the directory).",
            value=len(compaction.quarantined(self._path)),
        )
        # Runs after the files were read: the registry collects in registration order.
        yield GaugeMetricFamily(
            names.FILES_UNREADABLE,
            "Metric files this scrape could not read (a worker's file being created, damage).",
            value=len(self._collector.unreadable),
        )


def forget_dead_processes(path: Path) -> list[int]:
    """Drop the live gauges of processes that are gone, however they died.

    Servers that call ``mark_process_dead`` on a worker's exit (gunicorn's ``child_exit``, our
    lifespan shutdown) do this already; a worker killed with SIGKILL under uvicorn or granian
    gets no such call, so each scrape checks. Returns the pids it dropped.
    """
    dead = []
    for entry in os.scandir(path):
        match = LIVE_GAUGE_FILE.fullmatch(entry.name)
        if match and not is_alive(pid := int(match["pid"])) and pid not in dead:
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


def is_alive(pid: int) -> bool:
    """Dead only on evidence: no such process (``kill(pid, 0)``), or a zombie where ``/proc``
    says so. Without ``/proc`` a process that exists counts as alive: compacting a live
    worker's file would freeze its counts, keeping a zombie's costs only a larger directory."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, under another user
    except OverflowError:
        return False  # beyond any pid
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = (PROC / str(pid) / "stat").read_bytes()
    except FileNotFoundError:
        # With /proc mounted, a pid that has no entry has just exited; without it, no evidence.
        return (PROC / "self").exists()
    except OSError:
        return False
    fields = stat.rsplit(b")", 1)[-1].split()
    return bool(fields) and fields[0] == b"Z"
