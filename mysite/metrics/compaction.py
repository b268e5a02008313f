"""Keeps the multi-process metrics directory small across worker restarts.

Each worker writes its counters and histograms to its own ``counter_<pid>.db`` and
``histogram_<pid>.db``. Those files must outlive the worker, or totals would go down, so every
worker that dies (kill -9, a crash, gunicorn's ``max_requests``) leaves files behind, and every
scrape reads them all: the directory, and the scrape's time, grow without bound.

``compact(path, is_alive)`` merges the files of dead processes into one archive per metric type
(``counter_archive.db``, ``histogram_archive.db``; prometheus_client's collector reads the type
from the name's prefix and sums the files, so the archive counts as one more, long-dead,
process) and deletes them. Totals are unchanged, exactly for counts.

Safe under concurrency: compaction holds the directory's exclusive lock (``collector.py``);
a scrape reads under the shared one.

Loses nothing: a dead file is read, and checked, before it is claimed; one that cannot be read
(empty, cut short, corrupt, no permission) or merged (a value infinite, NaN, or that would take
a total beyond ``collector.MERGEABLE_LIMIT``) is set aside under a ``.quarantined-`` name,
logged, counted by ``metrics_files_quarantined``, and never hides the others. Sums are exact: the
archive carries the rounding forward (``_write_archives``), so no total goes down.

Deletes nothing foreign: only names of ``filenames.py``; a journal that names anything else (a
path, another file) is set aside unread.

Safe under a crash: a dead file is first renamed out of the collector's sight (``*.merging-*``);
the new archive is written under a temporary name, then a journal names what the round did,
then the archive is renamed into place and the merged files are deleted. The next compaction,
which every scrape runs before it reads, finishes an interrupted round (journal present) or
merges the claimed files again into the old archive (no journal).

Whether a pid is dead is ``liveness.py``'s judgement, on the platform's evidence only (a pid
that the kernel gave to a later process included, where ``/proc`` tells).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict

from . import filenames
from .collector import (
    MERGEABLE_LIMIT,
    UNREADABLE,
    LockedMultiProcessCollector,
    Values,
    directory_lock,
    read_values,
)
from .filenames import CLAIM_MARK, JOURNAL_NAME, QUARANTINE_MARK, REJECTED_MARK, TMP_SUFFIX

__all__ = ["LockedMultiProcessCollector", "compact", "compact_quietly", "directory_lock"]

logger = logging.getLogger(__name__)


def compact(path: Path | str, is_alive: Callable[[int], bool]) -> list[str]:
    """Merge the counter and histogram files of dead pids into the archives; return their names.

    Cheap when there is nothing to do (one directory scan, no lock), so it can run per scrape.
    """
    path = Path(path)
    if not _work_pending(path, is_alive):
        return []
    with directory_lock(path, exclusive=True):
        _recover(path)
        totals = _ExactTotals(path)
        claimed: list[str] = []
        for name, pid in _dead_files(path):
            if is_alive(pid):
                continue
            # Read and add first: a file that cannot be read, or whose values cannot be added
            # to the totals, is set aside, and never claimed.
            try:
                totals.add(name, read_values(path / name))
            except UNREADABLE as exc:
                quarantine(path, name, exc)
                continue
            claim = f"{name}{CLAIM_MARK}{secrets.token_hex(4)}"
            os.rename(path / name, path / claim)
            claimed.append(claim)
        # Files claimed by a round that crashed before its journal: merged again, now.
        for name in os.listdir(path):
            if filenames.CLAIMED_FILE.fullmatch(name) and name not in claimed:
                try:
                    totals.add(name, read_values(path / name))
                except UNREADABLE as exc:
                    quarantine(path, name, exc)
                    continue
                claimed.append(name)
        if not claimed:
            return []
        claimed.sort()
        staged = _write_archives(path, totals)
        _write_journal(path, staged, claimed)
        _finish(path, staged, claimed)
    merged = [name.partition(CLAIM_MARK)[0] for name in claimed]
    logger.info("merged %d metric file(s) of dead workers into the archives", len(merged))
    return merged


def compact_quietly(path: Path | str, is_alive: Callable[[int], bool]) -> list[str]:
    """``compact`` for the scrape path: a failure is logged, and the scrape goes on."""
    try:
        return compact(path, is_alive)
    except (*UNREADABLE, ArithmeticError):
        logger.exception("compacting the metrics directory %s failed", path)
        return []


def quarantine(path: Path, name: str, reason: BaseException) -> str:
    """Set a file aside under a name no collector reads and no wipe but a fresh server's
    deletes; it stays for someone to look at, and counts in ``metrics_files_quarantined``."""
    aside = f"{name}{QUARANTINE_MARK}{secrets.token_hex(4)}"
    os.rename(path / name, path / aside)
    logger.error(
        "set aside metric file %s as %s (unreadable or unmergeable): %r", name, aside, reason
    )
    return aside


def quarantined(path: Path | str) -> list[str]:
    return sorted(n for n in os.listdir(path) if filenames.QUARANTINED_FILE.fullmatch(n))


# --- the steps ----------------------------------------------------------------------------------


def _dead_files(path: Path) -> list[tuple[str, int]]:
    """Candidates in name order: which of two files a total cannot take both of is set aside
    does not depend on the directory's order."""
    found = []
    for name in sorted(os.listdir(path)):
        match = filenames.SUMMED_FILE.fullmatch(name)
        if match:
            found.append((name, int(match["pid"])))
    return found


def _work_pending(path: Path, is_alive: Callable[[int], bool]) -> bool:
    checked: dict[int, bool] = {}
    for name in os.listdir(path):
        if (
            name == JOURNAL_NAME
            or filenames.STAGED_ARCHIVE_FILE.fullmatch(name)
            or filenames.CLAIMED_FILE.fullmatch(name)
        ):
            return True
        match = filenames.SUMMED_FILE.fullmatch(name)
        if match:
            pid = int(match["pid"])
            if pid not in checked:
                checked[pid] = is_alive(pid)
            if not checked[pid]:
                return True
    return False


def _recover(path: Path) -> None:
    """Finish a round that a crash interrupted, or drop its half-written archive."""
    journal = path / JOURNAL_NAME
    if journal.exists():
        record = _valid_journal(journal)
        if record is not None:
            logger.warning("finishing a metrics compaction that was interrupted")
            _finish(path, record["staged"], record["claimed"])
            return
        # Not one this module wrote (it writes whole journals atomically): act on none of it.
        rejected = f"{JOURNAL_NAME}{REJECTED_MARK}{secrets.token_hex(4)}"
        os.rename(journal, path / rejected)
        logger.error("ignored a compaction journal that names foreign files (kept as %s)", rejected)
    for name in os.listdir(path):
        if filenames.STAGED_ARCHIVE_FILE.fullmatch(name):
            os.unlink(path / name)


def _valid_journal(journal: Path) -> dict | None:
    """The journal's record if every name in it is one that compaction writes, else None."""
    try:
        record = json.loads(journal.read_text())
        staged, claimed = record["staged"], record["claimed"]
        valid = (
            isinstance(staged, dict)
            and isinstance(claimed, list)
            and all(
                isinstance(tmp, str)
                and filenames.STAGED_ARCHIVE_FILE.fullmatch(tmp)
                and archive == tmp.removesuffix(TMP_SUFFIX)
                for tmp, archive in staged.items()
            )
            and all(isinstance(n, str) and filenames.CLAIMED_FILE.fullmatch(n) for n in claimed)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if valid else None


class _ExactTotals:
    """Each type's archive total, exact (``Fraction``), as the files to merge are added.

    A type's old archive is read in first, so a file is checked against the whole total it
    would join: one that would take a total beyond ``MERGEABLE_LIMIT`` is refused (raises
    ``ValueError``) and the totals are left as they were.
    """

    def __init__(self, path: Path):
        self._path = path
        self.exact: dict[str, dict[str, Fraction]] = {}
        self.latest: dict[str, dict[str, float]] = {}
        self.old_layers: dict[str, int] = {}

    def add(self, name: str, values: Values) -> None:
        metric_type = filenames.metric_type(name)
        exact, latest = self._of_type(metric_type)
        added: dict[str, Fraction] = {}
        for key, value, _ in values:
            total = added.get(key, exact.get(key, Fraction(0))) + Fraction(value)
            if abs(total) > MERGEABLE_LIMIT:
                raise ValueError(f"{name} would take a total beyond {MERGEABLE_LIMIT:g}")
            added[key] = total
        exact.update(added)
        for key, _, timestamp in values:
            latest[key] = max(latest.get(key, 0.0), timestamp)

    def _of_type(self, metric_type: str) -> tuple[dict[str, Fraction], dict[str, float]]:
        if metric_type not in self.exact:
            self.exact[metric_type], self.latest[metric_type] = {}, {}
            layers = _archive_layers(self._path, metric_type)
            self.old_layers[metric_type] = len(layers)
            for layer in layers:
                try:
                    self.add(layer, read_values(self._path / layer))
                except UNREADABLE as exc:  # already unread by every scrape: keep it for a look
                    quarantine(self._path, layer, exc)
        return self.exact[metric_type], self.latest[metric_type]


def _write_archives(path: Path, totals: _ExactTotals) -> dict[str, str]:
    """Write each type's new archive (old archive + claimed files) under temporary names.

    The sum is exact (``Fraction``): layer 0 holds it rounded once, and each ``carry`` layer
    the rounding the layers before it could not hold, so the collector's ``fsum`` over the
    layers gives back the exact total and a sum never goes down across a compaction.
    """
    staged = {}
    for metric_type, exact in sorted(totals.exact.items()):
        latest = totals.latest[metric_type]
        layers = _split_into_floats(exact)
        for number in range(max(len(layers), totals.old_layers[metric_type])):
            archive = filenames.archive_name(metric_type, number)
            layer = layers[number] if number < len(layers) else {}
            tmp = path / (archive + TMP_SUFFIX)
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            mmaped = MmapedDict(str(tmp))
            try:
                for key, value in layer.items():
                    mmaped.write_value(key, value, latest[key])
            finally:
                mmaped.close()
            _fsync_file(tmp)
            staged[tmp.name] = archive
    return staged


def _archive_layers(path: Path, metric_type: str) -> list[str]:
    layers = []
    while (path / filenames.archive_name(metric_type, len(layers))).exists():
        layers.append(filenames.archive_name(metric_type, len(layers)))
    return layers


def _split_into_floats(exact: dict[str, Fraction]) -> list[dict[str, float]]:
    """Each exact sum as floats whose exact sum it is: the rounded sum, then the remainders."""
    layers: list[dict[str, float]] = [{}]
    for key, remaining in exact.items():
        layers[0][key] = float(remaining)
        remaining -= Fraction(layers[0][key])
        number = 1
        while remaining:
            if number == len(layers):
                layers.append({})
            layers[number][key] = float(remaining)
            remaining -= Fraction(layers[number][key])
            number += 1
    return layers


def _write_journal(path: Path, staged: dict[str, str], claimed: list[str]) -> None:
    tmp = path / (JOURNAL_NAME + TMP_SUFFIX)
    tmp.write_text(json.dumps({"staged": staged, "claimed": claimed}))
    _fsync_file(tmp)
    os.replace(tmp, path / JOURNAL_NAME)
    _fsync_dir(path)


def _finish(path: Path, staged: dict[str, str], claimed: list[str]) -> None:
    """Roll forward: archives into place, then the merged files and the journal go."""
    for tmp, archive in staged.items():
        # Missing: this rename happened before a crash (the journal is written after every
        # temporary archive is complete).
        with contextlib.suppress(FileNotFoundError):
            os.replace(path / tmp, path / archive)
    _fsync_dir(path)
    for name in claimed:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path / name)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path / JOURNAL_NAME)
    _fsync_dir(path)


def _fsync_file(file: Path) -> None:
    # Also flushes what MmapedDict wrote through its memory map.
    fd = os.open(file, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
