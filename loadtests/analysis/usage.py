"""A process tree's use of the machine over a window, from the samples taken while it ran.

CPU is cumulative seconds, so a window's CPU share is the difference of two interpolated
readings divided by its length, whatever the sampling phase. ``sweep.sampler`` takes the
samples and writes them (``write``); the analysis reads them back (``read``).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np


class Sample(msgspec.Struct, frozen=True, array_like=True):
    unix: float
    cpu_s: float  # cumulative, of every process of the tree seen so far
    rss: int
    threads: int
    processes: int
    in_io: int | None = None  # threads in a socket wait (``sweep.sampler.in_io``), when asked for


Series = dict[str, list[Sample]]  # by the tree's name ("server", "upstream")


def write(path: Path, series: Series) -> None:
    path.write_bytes(msgspec.json.encode(series))


def read(path: Path) -> Series:
    return msgspec.json.decode(path.read_bytes(), type=Series)


def window(samples: list[Sample], start: float, end: float) -> dict | None:
    """CPU (% of one core), peak RSS (MB), threads and processes over a window."""
    if len(samples) < 2 or end <= start:
        return None
    # Each edge's cumulative CPU, interpolated between the samples on either side of it.
    at_start, at_end = np.interp(
        (start, end), [s.unix for s in samples], [s.cpu_s for s in samples]
    )
    cpu_s = float(at_end - at_start)
    nearest = min(samples, key=lambda s: abs(s.unix - end))
    inside = [s for s in samples if start <= s.unix <= end] or [nearest]
    return {
        "cpu_percent": round(100.0 * cpu_s / (end - start), 1),
        "rss_mb": round(max(s.rss for s in inside) / 2**20, 1),
        "threads": max(s.threads for s in inside),
        "processes": max(s.processes for s in inside),
    }


def mean_io(samples: list[Sample], start: float, end: float) -> float | None:
    """The mean count of threads in a socket wait over the samples in [start, end]."""
    inside = [s.in_io for s in samples if start <= s.unix <= end and s.in_io is not None]
    return sum(inside) / len(inside) if inside else None
