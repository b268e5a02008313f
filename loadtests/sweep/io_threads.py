"""Threads parked in a socket wait, sampled in the background: what a thread per query costs.

A total thread count does not tell the database paths apart: Django's ASGI handler parks a
thread per in-flight request for every async view, and idle executor threads linger. What does
is where each thread waits (Linux ``/proc/<pid>/task/<tid>/wchan``): the sync and async ORM
paths park a thread in the database socket's wait for each query in flight; the native path
awaits it on the event loop (epoll), and its threads wait on futexes. ``in_io`` is the one
reading of it (the in-flight cost and tests/db/test_threads.py use it too); the sampler makes
it a time series over a process tree.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
import time
from pathlib import Path

import psutil

INTERVAL_S = 0.1
IDLE_WAITS = ("futex", "epoll")  # a parked thread, an event loop: no socket wait


def in_io(pid: int) -> int | None:
    """Threads of ``pid`` the kernel holds in a wait other than a futex or epoll: in the lab's
    servers, a query's socket or a blocking sleep. None without ``/proc`` (not Linux)."""
    task_dir = Path(f"/proc/{pid}/task")
    try:
        tasks = list(task_dir.iterdir())
    except OSError:
        return None
    count = 0
    for task in tasks:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            wchan = (task / "wchan").read_text()
            # "0" (or nothing): running on a CPU right now, not waiting at all.
            count += wchan not in ("", "0") and not any(idle in wchan for idle in IDLE_WAITS)
    return count


def tree_in_io(root: int) -> int:
    try:
        main = psutil.Process(root)
        pids = [root, *(p.pid for p in main.children(recursive=True))]
    except psutil.Error:
        return 0
    return sum(in_io(pid) or 0 for pid in pids)


class IoThreadSampler:
    """``with IoThreadSampler(pid) as s:`` samples the tree's socket-waiting threads."""

    def __init__(self, root: int, interval: float = INTERVAL_S) -> None:
        self.root, self.interval = root, interval
        self.times: list[float] = []
        self.counts: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="io-threads", daemon=True)

    def __enter__(self) -> IoThreadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            count = tree_in_io(self.root)
            self.times.append(time.time())
            self.counts.append(count)
            self._stop.wait(self.interval)

    def mean(self, start: float, end: float) -> float | None:
        """The mean count of the samples taken in [start, end] (None: none was)."""
        low, high = bisect.bisect_left(self.times, start), bisect.bisect_right(self.times, end)
        inside = self.counts[low:high]
        return sum(inside) / len(inside) if inside else None
