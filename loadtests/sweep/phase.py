"""The phases after the grid: each a generator of experiments, measured by one runner.

A phase (the database comparison, server life) yields ``Experiment``s; an adaptive one may
decide its next from the records kept so far. Each experiment's ``measure`` returns its record,
a failure in the record's ``error`` (the runner goes on with the next); ``keep`` puts it in the
results, which the runner writes after each, so Ctrl-C keeps everything measured so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol


class Measured(Protocol):
    error: str | None


@dataclass(frozen=True)
class Experiment:
    label: str  # what the progress output calls it, e.g. "in flight"
    measure: Callable[[], Measured]
    keep: Callable[[Any], object]  # the record into the results
    describe: Callable[[Any], str] = str  # the record in one line


def run(
    experiments: Iterable[Experiment], write: Callable[[], object], note: Callable[[str], object]
) -> int:
    """Measure each experiment, keep its record and write the results; 1 when one failed."""
    failed = False
    for experiment in experiments:
        began = time.monotonic()
        record = experiment.measure()
        experiment.keep(record)
        write()
        took = time.monotonic() - began
        note(f"{experiment.label}: {experiment.describe(record)} ({took:.0f} s)")
        failed = failed or bool(record.error)
    return int(failed)
