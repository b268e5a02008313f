"""CPU, memory and threads of the processes a cell runs, sampled in the background (psutil).

Each named root (the server's master process, the upstream) is followed with all its children.
CPU is kept as cumulative seconds per process, so a window's CPU share is the difference of two
interpolated readings divided by its length, whatever the sampling phase; a worker that exits
keeps the CPU seconds it had used.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import threading
import time
from dataclasses import dataclass

import psutil

INTERVAL = 0.25


@dataclass(frozen=True)
class Sample:
    unix: float
    cpu_s: float
    rss: int
    threads: int
    processes: int


class TreeSampler:
    """Samples process trees every ``interval`` seconds until ``stop()``; usable as ``with``."""

    def __init__(self, roots: dict[str, int], interval: float = INTERVAL) -> None:
        self.roots = roots
        self.interval = interval
        self.samples: dict[str, list[Sample]] = {name: [] for name in roots}
        self._cpu_by_pid: dict[str, dict[int, float]] = {name: {} for name in roots}
        self._processes: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            if self._thread.is_alive():
                self._thread.join(timeout=5)
            self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def _process(self, pid: int) -> psutil.Process:
        # One Process object per pid, so psutil can tell a reused pid from the same process.
        process = self._processes.get(pid)
        if process is None:
            process = self._processes[pid] = psutil.Process(pid)
        return process

    def sample(self) -> None:
        for name, pid in self.roots.items():
            try:
                root = self._process(pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            cpu_by_pid = self._cpu_by_pid[name]
            rss = threads = alive = 0
            for process in tree:
                with contextlib.suppress(psutil.Error):
                    with process.oneshot():
                        cpu = process.cpu_times()
                        cpu_by_pid[process.pid] = cpu.user + cpu.system
                        rss += process.memory_info().rss
                        threads += process.num_threads()
                    alive += 1
            self.samples[name].append(
                Sample(time.time(), sum(cpu_by_pid.values()), rss, threads, alive)
            )

    def window(self, name: str, start: float, end: float) -> dict | None:
        """CPU (% of one core), peak RSS (MB), threads and processes of ``name`` in a window."""
        samples = self.samples.get(name) or []
        if len(samples) < 2 or end <= start:
            return None
        cpu_s = _interpolate(samples, end) - _interpolate(samples, start)
        inside = [s for s in samples if start <= s.unix <= end] or [_nearest(samples, end)]
        return {
            "cpu_percent": round(100.0 * cpu_s / (end - start), 1),
            "rss_mb": round(max(s.rss for s in inside) / 2**20, 1),
            "threads": max(s.threads for s in inside),
            "processes": max(s.processes for s in inside),
        }


def _interpolate(samples: list[Sample], unix: float) -> float:
    times = [s.unix for s in samples]
    i = bisect.bisect_left(times, unix)
    if i <= 0:
        return samples[0].cpu_s
    if i >= len(samples):
        return samples[-1].cpu_s
    before, after = samples[i - 1], samples[i]
    span = after.unix - before.unix
    share = (unix - before.unix) / span if span > 0 else 1.0
    return before.cpu_s + share * (after.cpu_s - before.cpu_s)


def _nearest(samples: list[Sample], unix: float) -> Sample:
    return min(samples, key=lambda s: abs(s.unix - unix))


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its living children."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            cpu = process.cpu_times()
            total += cpu.user + cpu.system
    return total


def pin_tree(pid: int, cpus: frozenset[int] | set[int]) -> int:
    """Pin every thread of a process and its children to ``cpus``; return the threads pinned.

    Done once the server is ready, so that it boots on every CPU and is measured on its own.
    Affinity is per thread on Linux, hence each task of each process; threads started later
    inherit it from the thread that starts them.
    """
    pinned = 0
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for process in tree:
        with contextlib.suppress(psutil.Error):
            for thread in process.threads():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(thread.id, cpus)
                    pinned += 1
    return pinned
