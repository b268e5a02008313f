"""What plugs into a sweep's run, declared: ``RunHooks``, and ``Guarded``, which keeps a failing
one from stopping the measurement. The Prometheus beside the sweep
(``loadtests.prometheus.hook.PrometheusHook``) is one."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from loadtests.analysis.records import Cell, RunMeta
from loadtests.analysis.results import Results

from .cli import Config

T = TypeVar("T")


class RunHooks(Protocol):
    """Called by the sweep at each step of its run, in this order."""

    name: str  # in the run's notes, when it fails

    def locust_env(self) -> dict[str, str]:
        """Environment for every Locust the sweep starts."""

    def start(self, run_dir: Path, meta: RunMeta) -> None:
        """The run begins (its directory exists, results.json not yet written)."""

    def targets(self, run_dir: Path, cell: str, targets: dict[str, str]) -> None:
        """A run of ``cell`` has its servers up, at these URLs (``app``, maybe ``upstream``)."""

    def cell_done(self, run_dir: Path, cell: Cell) -> dict[str, str] | None:
        """The cell is measured and assembled; what it returns goes in its extensions."""

    def finish(self, run_dir: Path, results: Results) -> list[dict] | None:
        """The run ended (any way); the panels it returns go into the report."""


class Guarded:
    """A ``RunHooks`` (or none) whose first failure is noted and turns it off: the measurement
    goes on without it."""

    def __init__(self, hook: RunHooks | None) -> None:
        self.hook = hook
        self.errors: list[str] = []

    def _call(self, name: str, call: Callable[[RunHooks], T], default: T) -> T:
        if self.hook is None:
            return default
        try:
            return call(self.hook)
        except Exception as error:
            self.errors.append(f"{self.hook.name}.{name}: {error!r}")
            print(traceback.format_exc(), file=sys.stderr, flush=True)
            self.hook = None
            return default

    def locust_env(self) -> dict[str, str]:
        return self._call("locust_env", lambda hook: hook.locust_env(), {})

    def start(self, run_dir: Path, meta: RunMeta) -> None:
        self._call("start", lambda hook: hook.start(run_dir, meta), None)

    def targets(self, run_dir: Path, cell: str, targets: dict[str, str]) -> None:
        self._call("targets", lambda hook: hook.targets(run_dir, cell, targets), None)

    def cell_done(self, run_dir: Path, cell: Cell) -> dict[str, str] | None:
        return self._call("cell_done", lambda hook: hook.cell_done(run_dir, cell), None)

    def finish(self, run_dir: Path, results: Results) -> list[dict] | None:
        return self._call("finish", lambda hook: hook.finish(run_dir, results), None)


def beside(config: Config) -> Guarded:
    """The Prometheus beside the sweep, unless turned off or measuring a host it did not start."""
    if not config.prometheus or config.host:
        return Guarded(None)
    from loadtests.prometheus.hook import PrometheusHook

    return Guarded(PrometheusHook())
