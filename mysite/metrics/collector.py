"""Reading a multi-process metrics directory: under its lock, file by file, summed exactly.

The compaction (``compaction.py``) rewrites the directory under the exclusive lock; a scrape
reads under the shared one, so it sees either the dead workers' files or the archive that holds
their values, never both and never neither.

Nothing a file holds can break a scrape: a value that cannot be summed (infinite, NaN, or beyond
``MERGEABLE_LIMIT``) makes its file unreadable, like a damaged one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

from .filenames import LOCK_NAME, is_collected

logger = logging.getLogger(__name__)

# What reading a damaged file can raise: mmap of an empty file, a length past the end, bytes
# that are not UTF-8 or JSON, a key of the wrong shape, a record cut short, no permission.
UNREADABLE = (
    OSError,
    ValueError,
    RuntimeError,
    UnicodeDecodeError,
    TypeError,
    AttributeError,
    struct.error,
)

# The largest magnitude a summed value (a count, a histogram's sum) may have, in a file or as a
# total. No real one comes near it (2**1000 is about 1e301), and below it the exact sum of up to
# 2**23 files cannot overflow a float, so neither ``math.fsum`` here nor the compaction's
# ``Fraction`` -> ``float`` can raise. Two damaged files of 1e308 each used to make every scrape
# fail with ``OverflowError``.
MERGEABLE_LIMIT = 2.0**1000

Values = list[tuple[str, float, float]]  # (key, value, timestamp) as MmapedDict stores them


@contextlib.contextmanager
def directory_lock(path: Path | str, exclusive: bool) -> Iterator[None]:
    """Hold the directory's lock: exclusive to compact, shared to read."""
    fd = os.open(Path(path) / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def read_values(file: Path | str) -> Values:
    """Every entry of one metric file, checked as the collector will parse it; raises on any
    damage (``UNREADABLE``)."""
    values = []
    for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(str(file)):
        metric_name, name, labels, _help = json.loads(key)
        if not (isinstance(metric_name, str) and isinstance(name, str)):
            raise ValueError(f"malformed key {key[:80]!r}")
        dict(labels.items())  # a mapping, as the collector needs
        check_mergeable(name, value)
        values.append((key, value, timestamp))
    return values


def check_mergeable(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``value`` can be summed with others (see ``MERGEABLE_LIMIT``)."""
    if not (math.isfinite(value) and abs(value) <= MERGEABLE_LIMIT):
        raise ValueError(f"value {value!r} of {name} cannot be merged")


class LockedMultiProcessCollector(MultiProcessCollector):
    """prometheus_client's collector, reading under the directory's shared lock, file by file.

    A file it cannot read (a worker's first file, created but not yet sized; a damaged one; one
    holding a value that cannot be summed) is skipped and logged, not a failed scrape. Only
    names of ``filenames.py`` are read. Counters, histograms and summaries are summed
    exactly (``math.fsum``: the sum of the exact values, rounded once), so a total that only
    grows is never reported lower because its parts were added in another order.
    """

    def __init__(self, registry, path: Path | str):
        super().__init__(registry, path=str(path))
        self._directory = Path(path)
        self.unreadable: list[str] = []

    def collect(self):
        with directory_lock(self._directory, exclusive=False):
            metrics: dict = {}
            self.unreadable = []
            for entry in os.scandir(self._directory):
                if not is_collected(entry.name):
                    continue
                try:
                    part = MultiProcessCollector._read_metrics([entry.path])
                    _check_summed_values(part)
                except FileNotFoundError:
                    continue  # a live gauge of a process just marked dead
                except UNREADABLE as exc:
                    logger.warning(
                        "skipping metric file %s (unreadable or unmergeable): %r", entry.name, exc
                    )
                    self.unreadable.append(entry.name)
                    continue
                for metric_name, metric in part.items():
                    merged = metrics.setdefault(metric_name, metric)
                    if merged is not metric:
                        merged.samples.extend(metric.samples)
            for metric in metrics.values():
                if metric.type != "gauge":
                    _sum_samples_exactly(metric)
            return list(MultiProcessCollector._accumulate_metrics(metrics, True))


def _check_summed_values(part: dict) -> None:
    # Gauges are not summed exactly (prometheus_client adds them, or takes a max or min): their
    # values never raise, and an infinite or NaN gauge is a value like any other.
    for metric in part.values():
        if metric.type != "gauge":
            for sample in metric.samples:
                check_mergeable(sample.name, sample.value)


def _sum_samples_exactly(metric) -> None:
    parts: dict[tuple, list[float]] = {}
    for sample in metric.samples:
        parts.setdefault((sample.name, sample.labels), []).append(sample.value)
    metric.samples = []
    for (name, labels), values in parts.items():
        metric.add_sample(name, labels, math.fsum(values))
