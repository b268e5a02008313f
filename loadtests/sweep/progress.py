"""The sweep's progress: the current run, runs done, time spent and time left (rich).

On a terminal, rich redraws one bar in place and prints notes above it; otherwise (CI logs,
pipes) one line per run. It reads counts and clocks only, never a measurement: the time left
comes from each remaining run's planned warm-up and windows plus what starting a server and
Locust has cost so far in this sweep.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar

from .plan import CellPlan


@dataclass(frozen=True)
class RunPlan:
    """One fresh run of a cell: what the sweep schedules, interleaved across cells."""

    plan: CellPlan
    index: int

    def estimate(self, start_cost: float) -> float:
        return self.plan.run_estimate(start_cost, self.plan.runs()[self.index])


def interleaved(plans: list[CellPlan]) -> list[RunPlan]:
    """Round r holds every cell's r-th run, in the plan's order: A B C A B C."""
    rounds = max((len(p.runs()) for p in plans), default=0)
    return [RunPlan(p, r) for r in range(rounds) for p in plans if r < len(p.runs())]


INITIAL_START_COST = 4.0  # seconds to start and stop a server and Locust, before any is seen


def clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, plans: list[RunPlan], stream: TextIO | None = None) -> None:
        self.plans = plans
        self.console = Console(file=stream, stderr=stream is None, highlight=False, soft_wrap=True)
        self.done = 0
        self.current: RunPlan | None = None
        self.current_started = 0.0
        self.start_costs: list[float] = []
        self.bar = Bar(
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs {task.description}  elapsed"),
            TimeElapsedColumn(),
            TextColumn("left ~{task.fields[left]}"),
            console=self.console,
            disable=not self.console.is_terminal,
            refresh_per_second=2,
        )
        self.task = self.bar.add_task("", total=len(plans), left=clock(self.left()))
        self.bar.start()

    @property
    def start_cost(self) -> float:
        return statistics.fmean(self.start_costs) if self.start_costs else INITIAL_START_COST

    def left(self) -> float:
        """Seconds left: every run not done, less what the current one has spent."""
        left = sum(p.estimate(self.start_cost) for p in self.plans[self.done :])
        if self.current is not None:
            spent = time.monotonic() - self.current_started
            left -= min(spent, self.current.estimate(self.start_cost))
        return left

    def begin(self, run: RunPlan) -> None:
        self.current, self.current_started = run, time.monotonic()
        plan = run.plan
        what = f"{plan.server} x{plan.workers} {plan.scenario} ({plan.users} users)"
        what += f", run {run.index + 1}"
        self.bar.update(self.task, description=what)
        if not self.console.is_terminal:
            done = f"{self.done}/{len(self.plans)} runs"
            self.console.print(f"{done}: {what}, left ~{clock(self.left())}", markup=False)
        self.draw()

    def end(self, run: RunPlan) -> None:
        elapsed = time.monotonic() - self.current_started
        self.start_costs.append(max(0.0, elapsed - run.estimate(0.0)))
        self.done += 1
        self.current = None
        self.bar.update(self.task, completed=self.done)
        self.draw()

    def skip(self, run: RunPlan) -> None:
        self.done += 1
        self.bar.update(self.task, completed=self.done)

    def draw(self) -> None:
        """Refresh the estimate of the time left (rich redraws the bar on its own)."""
        self.bar.update(self.task, left=clock(self.left()))

    def note(self, message: str) -> None:
        """A message above the progress bar."""
        self.console.print(message, markup=False)

    def close(self) -> None:
        self.bar.stop()
