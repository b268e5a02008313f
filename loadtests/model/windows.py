"""What the closed loop's Locust plugin writes (``--window-out``, ``cells/<cell>/runN.json``):
one run's measured windows, per Locust process, typed; the analysis reads them with these types.

A worker sends its ``NodeReport`` to the master as msgpack (``msgspec.to_builtins``); the master
(or the only process) writes the ``WindowsFile``. ``WindowsFile.pooled`` merges every process's
entries of one window: counts add, latencies merge exactly.
"""

from __future__ import annotations

from collections import Counter

from msgspec import field

from .latency import Latency
from .record import Record

TOP_ERRORS = 5  # error messages kept per entry, the most common


class Entry(Record):
    """One request name's requests in one window (of one process, or pooled)."""

    requests: int = 0  # ended in the window
    # Each request spread over the windows its time spans, in proportion: the window's rate.
    share: float = 0.0
    failures: int = 0
    latency: Latency = field(default_factory=Latency)  # of the requests that ended in it
    errors: dict[str, int] = field(default_factory=dict)  # message -> requests

    def merge(self, other: Entry) -> Entry:
        self.requests += other.requests
        self.share += other.share
        self.failures += other.failures
        self.latency.merge(other.latency)
        self.errors = dict(Counter(self.errors) + Counter(other.errors))
        return self

    def top_errors(self) -> list[tuple[str, int]]:
        return Counter(self.errors).most_common(TOP_ERRORS)


class NodeWindow(Record):
    index: int
    cpu_percent: float | None = None  # the process's CPU over the window, of one core
    entries: dict[str, Entry] = field(default_factory=dict)  # by request name


class NodeReport(Record):
    """One Locust process's windows."""

    node: str  # the worker's client id, "master" or "local"
    role: str
    pid: int
    windows: list[NodeWindow] = field(default_factory=list)


class Boundary(Record):
    """A window's edge: its instant, and the server's side read there (its metric files, or a
    scrape of /metrics beside the load)."""

    unix: float
    scrape_file: str | None = None  # the exposition saved beside the run file
    scrape_s: float | None = None  # how long the server kept the scrape waiting
    scrape_error: str | None = None
    read_s: float | None = None  # how long reading the metric files took
    per_process: dict[str, dict[str, float]] | None = None  # pid -> route -> requests


class RunTotals(Record):
    requests: int
    failures: int


class WindowsFile(Record):
    """One run of a cell: its warm-up, its edges, and every process's windows."""

    users: int
    warmup_s: float
    steady: bool | None  # None: a fixed warm-up, no rule applied
    subwindows: list[tuple[float, float | None]]  # the warm-up's (rate, median ms) readings
    length_s: float
    count: int
    spawned_at: float
    boundaries: list[Boundary]
    nodes: list[NodeReport]
    run_totals: RunTotals
    missing_reports: int  # workers whose report never came

    def pooled(self, index: int) -> tuple[Entry, list[tuple[str, float]]]:
        """Window ``index`` over every process and name, and each process's CPU in it."""
        total, cpu = Entry(), []
        for node in self.nodes:
            for window in node.windows:
                if window.index != index:
                    continue
                if window.cpu_percent is not None:
                    cpu.append((node.node, window.cpu_percent))
                for entry in window.entries.values():
                    total.merge(entry)
        return total, cpu
