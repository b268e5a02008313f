"""prometheus_client's multi-process mode: which registry a scrape reads, and dead workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set (the launcher sets and wipes it before any worker
starts), each worker writes its values to its own files there and a scrape merges them all.
Counters and histograms of a dead worker stay, so totals never go down; its live gauges
(in-flight requests, loop lag) must go, or a killed worker would count forever.
"""

import contextlib
import os
import re
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

from . import compaction

_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


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
    compaction.compact_quietly(path, _is_alive)
    registry = CollectorRegistry()
    compaction.LockedMultiProcessCollector(registry, path)
    return registry


def forget_dead_processes(path: Path) -> list[int]:
    """Drop the live gauges of processes that are gone, however they died.

    Servers that call ``mark_process_dead`` on a worker's exit (gunicorn's ``child_exit``, our
    lifespan shutdown) do this already; a worker killed with SIGKILL under uvicorn gets no such
    call, so each scrape checks. Returns the pids it dropped.
    """
    dead = []
    for entry in os.scandir(path):
        match = _LIVE_GAUGE_FILE.fullmatch(entry.name)
        if match and not _is_alive(pid := int(match.group(1))) and pid not in dead:
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


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still has its pid until its parent reaps it; it serves nothing.
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (FileNotFoundError, IndexError):
        return False
