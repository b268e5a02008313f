"""One progress line: the current cell, cells done, time spent and time left.

On a terminal the line redraws in place; otherwise (CI logs, pipes) one line per cell. The time
left comes from each remaining cell's planned warm-up and windows plus what starting a server
and Locust has cost so far in this sweep.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

INITIAL_START_COST = 4.0  # seconds to start and stop a server and Locust, before any is seen
BAR = 24


def clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, plans: list, stream: TextIO | None = None) -> None:
        self.plans = plans
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self.done = 0
        self.current = None
        self.current_started = 0.0
        self.start_costs: list[float] = []
        self._last_draw = 0.0

    @property
    def start_cost(self) -> float:
        if not self.start_costs:
            return INITIAL_START_COST
        return sum(self.start_costs) / len(self.start_costs)

    def left(self) -> float:
        remaining = sum(p.estimate(self.start_cost) for p in self.plans[self.done + 1 :])
        if self.current is not None:
            planned = self.current.estimate(self.start_cost)
            remaining += max(0.0, planned - (time.monotonic() - self.current_started))
        return remaining

    def begin(self, plan) -> None:
        self.current, self.current_started = plan, time.monotonic()
        self.draw(force=True)

    def end(self, plan) -> None:
        elapsed = time.monotonic() - self.current_started
        measured = plan.estimate(0.0)
        self.start_costs.append(max(0.0, (elapsed - measured) / len(plan.runs())))
        self.done += 1
        self.current = None

    def line(self) -> str:
        total = len(self.plans)
        filled = round(BAR * self.done / total) if total else BAR
        bar = "#" * filled + "." * (BAR - filled)
        what = ""
        if self.current is not None:
            p = self.current
            what = f"  {p.server} x{p.workers} {p.scenario} ({p.users} users)"
        elapsed = time.monotonic() - self.started
        return (
            f"[{bar}] {self.done}/{total} cells{what}  "
            f"elapsed {clock(elapsed)}, left ~{clock(self.left())}"
        )

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.tty:
            if force:
                print(self.line(), file=self.stream, flush=True)
            return
        if force or now - self._last_draw >= 0.5:
            self._last_draw = now
            print("\r\033[K" + self.line(), end="", file=self.stream, flush=True)

    def note(self, message: str) -> None:
        """A message above the progress line."""
        prefix = "\r\033[K" if self.tty else ""
        print(prefix + message, file=self.stream, flush=True)
        if self.tty:
            self.draw(force=True)

    def close(self) -> None:
        if self.tty:
            print("\r\033[K" + self.line(), file=self.stream, flush=True)
