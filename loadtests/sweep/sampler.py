"""Process trees sampled in the background (psutil): CPU, memory, threads, and threads in I/O.

Each named root (the server's master process, the upstream) is followed with all its children.
CPU is kept as cumulative seconds per process (a worker that exits keeps the CPU seconds it had
used); ``analysis.usage`` reads a window's use from the samples.

A total thread count does not tell the database paths apart: Django's ASGI handler parks a
thread per in-flight request for every async view, and idle executor threads linger. What does
is where each thread waits (Linux ``/proc/<pid>/task/<tid>/wchan``): the sync and async ORM
paths park a thread in the database socket's wait for each query in flight; the native path
awaits it on the event loop (epoll), and its threads wait on futexes. ``in_io`` is that reading
(the in-flight cost and tests/db/test_threads.py use it too); ``TreeSampler(..., io=True)``
makes it a time series over a process tree.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from loadtests.analysis import usage
from loadtests.analysis.usage import Sample

INTERVAL = 0.25
IO_INTERVAL = 0.1
IDLE_WAITS = ("futex", "epoll")  # a parked thread, an event loop: no socket wait


def tree(pid: int) -> list[psutil.Process]:
    """The process and its children (raises ``psutil.Error`` when it is gone)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


class TreeSampler:
    """Samples process trees (``roots``: name -> pid) now, every ``interval`` seconds in a
    thread, and once more at ``stop()`` (usable as ``with``): with their threads in a socket
    wait when ``io`` (a read per thread: dearer than a count), and calling ``also`` each time."""

    def __init__(
        self,
        roots: dict[str, int],
        interval: float = INTERVAL,
        io: bool = False,
        also: Callable[[], object] | None = None,
    ):
        self.roots, self.interval, self.io, self.also = roots, interval, io, also
        self.samples: dict[str, list[Sample]] = {name: [] for name in roots}
        self._cpu_by_pid: dict[str, dict[int, float]] = {name: {} for name in roots}
        self._processes: dict[int, psutil.Process] = {}

    def __enter__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(timeout=5)
            self.sample()

    def _process(self, process: psutil.Process) -> psutil.Process:
        # One Process object per pid, so psutil can tell a reused pid from the same process.
        return self._processes.setdefault(process.pid, process)

    def sample(self) -> None:
        if self.also is not None:
            self.also()
        for name, pid in self.roots.items():
            try:
                processes = [self._process(p) for p in tree(pid)]
            except psutil.Error:
                continue
            cpu_by_pid = self._cpu_by_pid[name]
            rss = threads = alive = 0
            for process in processes:
                with contextlib.suppress(psutil.Error), process.oneshot():
                    cpu = process.cpu_times()
                    cpu_by_pid[process.pid] = cpu.user + cpu.system
                    rss += process.memory_info().rss
                    threads += process.num_threads()
                    alive += 1
            io = sum(in_io(p.pid) or 0 for p in processes) if self.io else None
            cpu_s = sum(cpu_by_pid.values())
            self.samples[name].append(Sample(time.time(), cpu_s, rss, threads, alive, io))

    def window(self, name: str, start: float, end: float) -> dict | None:
        """CPU (% of one core), peak RSS (MB), threads and processes of ``name`` in a window."""
        return usage.window(self.samples.get(name) or [], start, end)


def in_io(pid: int) -> int | None:
    """Threads of ``pid`` the kernel holds in a wait other than a futex or epoll: in the lab's
    servers, a query's socket or a blocking sleep. None without ``/proc`` (not Linux)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return None
    count = 0
    for task in tasks:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            wchan = (task / "wchan").read_text()
            # "0" (or nothing): running on a CPU right now, not waiting at all.
            count += wchan not in ("", "0") and not any(idle in wchan for idle in IDLE_WAITS)
    return count


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its living children."""
    total = 0.0
    for process in tree(pid):
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
    with contextlib.suppress(psutil.Error):
        for process in tree(pid):
            with contextlib.suppress(psutil.Error):
                for thread in process.threads():
                    with contextlib.suppress(OSError):
                        os.sched_setaffinity(thread.id, cpus)
                        pinned += 1
    return pinned
