"""One Locust process's requests per measured window (``plugins.window`` keeps one of these):
whole requests where they end, their shares where they spent their time, and the process's CPU
time at each edge, as the model's ``NodeReport``. No Locust here, so it can be tested on its own
clock."""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable

import msgspec

from loadtests.model.windows import Entry, NodeReport, NodeWindow


class Recorder:
    """This process's requests, per window, and its CPU time at each boundary.

    A request counts whole in the window it ends in (its latency, its failure), and also in
    shares, spread over the windows its time spans in proportion to the time it spent in each:
    the shares are the window's rate. A closed loop with no think time lets users bunch after
    a stall, and an edge that cuts a bunch moves up to one request per user between windows
    (a window of 16 users at 0.2 s counted 81.3 req/s against a ceiling of 80); a user's
    requests tile its time, so its shares in a window are its length over the latency,
    wherever the edges fall.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.index: int | None = None
        self.entries: dict[int, dict[str, Entry]] = defaultdict(dict)
        self.shares: dict[int, Counter] = defaultdict(Counter)
        self.marks: list[tuple[int | None, float, float]] = []
        self.in_flight = 0  # requests begun (``begin``) and not yet ended
        self.open_at_end = 0  # of those, the ones in flight at the last edge, still open

    def mark(self, index: int | None) -> None:
        times = os.times()
        self.marks.append((index, self.clock(), times.user + times.system))
        self.index = index
        if index is None and len(self.marks) > 1:
            self.open_at_end = self.in_flight

    def begin(self) -> None:
        """A request is about to be sent: the last window waits for those in flight at its edge
        (``settled``), whose shares it holds."""
        self.in_flight += 1

    def settled(self) -> bool:
        return self.open_at_end <= 0

    def _share(self, name: str, started: float, ended: float) -> None:
        span = ended - started
        edges = [(index, at) for index, at, _ in self.marks]
        for (index, begin), (_, end) in itertools.pairwise([*edges, (None, float("inf"))]):
            if index is None:
                continue
            if span > 0:
                overlap = min(ended, end) - max(started, begin)
                if overlap > 0:
                    self.shares[index][name] += overlap / span
            elif begin <= ended < end:
                self.shares[index][name] += 1.0

    def on_request(self, name, response_time, exception=None, **_kwargs) -> None:
        ended = self.clock()
        started = ended - float(response_time or 0) / 1000.0
        self.in_flight = max(0, self.in_flight - 1)
        if self.open_at_end and self.marks and started <= self.marks[-1][1]:
            self.open_at_end -= 1
        self._share(name, started, ended)
        if self.index is None:
            return
        entry = self.entries[self.index].setdefault(name, Entry())
        entry.requests += 1
        entry.latency.record(float(response_time))
        if exception is not None:
            entry.failures += 1
            error = str(exception)[:200]
            entry.errors[error] = entry.errors.get(error, 0) + 1

    def report(self, node: str, role: str) -> NodeReport:
        windows = []
        for (index, wall, cpu), (_, next_wall, next_cpu) in itertools.pairwise(self.marks):
            if index is None:
                continue
            elapsed = next_wall - wall
            entries = {}
            # A name with shares only (a request longer than the window) has an empty entry.
            for name in {**self.entries.get(index, {}), **self.shares[index]}:
                entry = self.entries.get(index, {}).get(name) or Entry()
                share, errors = round(self.shares[index][name], 3), dict(entry.top_errors())
                entries[name] = msgspec.structs.replace(entry, share=share, errors=errors)
            cpu_percent = 100.0 * (next_cpu - cpu) / elapsed if elapsed > 0 else None
            windows.append(NodeWindow(index=index, cpu_percent=cpu_percent, entries=entries))
        return NodeReport(node=str(node), role=role, pid=os.getpid(), windows=windows)
