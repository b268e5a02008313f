"""Keeps the multi-process metrics directory small across worker restarts.

Each worker writes its counters and histograms to its own ``counter_<pid>.db`` and
``histogram_<pid>.db``. Those files must outlive the worker, or totals would go down, so every
worker that dies (kill -9, a crash, gunicorn's ``max_requests``) leaves files behind, and every
scrape reads them all: the directory, and the scrape's time, grow without bound.

``compact(path, is_alive)`` merges the files of dead processes into one archive per metric type
(``counter_archive.db``, ``histogram_archive.db``; prometheus_client's collector reads the type
from the name's prefix and sums the files, so the archive counts as one more, long-dead,
process) and deletes them. Totals are unchanged, exactly for counts.

Safe under concurrency: compaction holds an exclusive ``flock`` on ``.compaction.lock`` in the
directory, and ``LockedMultiProcessCollector`` reads under the shared lock, so a scrape sees
either the dead files or the archive that holds their values, never both and never neither.

Safe under a crash: a dead file is first renamed out of the collector's sight (``*.merging-*``);
the new archive is written under a temporary name, then a journal names what the round did,
then the archive is renamed into place and the merged files are deleted. The next compaction,
which every scrape runs before it reads, finishes an interrupted round (journal present) or
merges the claimed files again into the old archive (no journal).

Limit: a pid that the kernel reuses is told from the dead worker only by timing. A file is
claimed immediately after its pid was found dead, and a new process needs far longer than that
(it imports Django) before it opens its metric files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

LOCK_NAME = ".compaction.lock"
JOURNAL_NAME = ".compaction.journal"
# Types whose dead-process values are summed by the collector; gauges are per process or live.
_DEAD_FILE = re.compile(r"(counter|histogram|summary)_(\d+)\.db")
_CLAIMED_FILE = re.compile(r"(counter|histogram|summary)_\d+\.db\.merging-[0-9a-f]+")
_TMP_SUFFIX = ".tmp"


def archive_name(metric_type: str) -> str:
    return f"{metric_type}_archive.db"


@contextlib.contextmanager
def directory_lock(path: Path | str, exclusive: bool) -> Iterator[None]:
    """Hold the directory's lock: exclusive to compact, shared to read."""
    fd = os.open(Path(path) / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


class LockedMultiProcessCollector(MultiProcessCollector):
    """prometheus_client's collector, reading under the directory's shared lock."""

    def __init__(self, registry, path: Path | str):
        super().__init__(registry, path=str(path))
        self._directory = Path(path)

    def collect(self):
        with directory_lock(self._directory, exclusive=False):
            # merge() reads every file before it returns; list() makes that explicit.
            return list(super().collect())


def compact(path: Path | str, is_alive: Callable[[int], bool]) -> list[str]:
    """Merge the counter and histogram files of dead pids into the archives; return their names.

    Cheap when there is nothing to do (one directory scan, no lock), so it can run per scrape.
    """
    path = Path(path)
    if not _work_pending(path, is_alive):
        return []
    with directory_lock(path, exclusive=True):
        _recover(path)
        for name, pid in _dead_files(path):
            # Claim right after the check, leaving no time for a new process to reuse the pid.
            if not is_alive(pid):
                os.rename(path / name, path / f"{name}.merging-{secrets.token_hex(4)}")
        claimed = sorted(name for name in os.listdir(path) if _is_claimed(name))
        if not claimed:
            return []
        staged = _write_archives(path, claimed)
        _write_journal(path, staged, claimed)
        _finish(path, staged, claimed)
    merged = [name.partition(".merging-")[0] for name in claimed]
    logger.info("merged %d metric file(s) of dead workers into the archives", len(merged))
    return merged


def compact_quietly(path: Path | str, is_alive: Callable[[int], bool]) -> list[str]:
    """``compact`` for the scrape path: a failure is logged, and the scrape goes on."""
    try:
        return compact(path, is_alive)
    except (OSError, RuntimeError, ValueError):
        logger.exception("compacting the metrics directory %s failed", path)
        return []


# --- the steps ----------------------------------------------------------------------------------


def _is_claimed(name: str) -> bool:
    return _CLAIMED_FILE.fullmatch(name) is not None


def _dead_files(path: Path) -> list[tuple[str, int]]:
    found = []
    for name in os.listdir(path):
        match = _DEAD_FILE.fullmatch(name)
        if match:
            found.append((name, int(match.group(2))))
    return found


def _work_pending(path: Path, is_alive: Callable[[int], bool]) -> bool:
    checked: dict[int, bool] = {}
    for name in os.listdir(path):
        if name == JOURNAL_NAME or name.endswith(_TMP_SUFFIX) or _is_claimed(name):
            return True
        match = _DEAD_FILE.fullmatch(name)
        if match:
            pid = int(match.group(2))
            if pid not in checked:
                checked[pid] = is_alive(pid)
            if not checked[pid]:
                return True
    return False


def _recover(path: Path) -> None:
    """Finish a round that a crash interrupted, or drop its half-written archive."""
    journal = path / JOURNAL_NAME
    if journal.exists():
        record = json.loads(journal.read_text())
        logger.warning("finishing a metrics compaction that was interrupted")
        _finish(path, record["staged"], record["claimed"])
        return
    for name in os.listdir(path):
        if name.endswith(_TMP_SUFFIX):
            os.unlink(path / name)


def _write_archives(path: Path, claimed: list[str]) -> dict[str, str]:
    """Write each type's new archive (old archive + claimed files) under a temporary name."""
    by_type: dict[str, list[str]] = {}
    for name in claimed:
        by_type.setdefault(name.partition("_")[0], []).append(name)
    staged = {}
    for metric_type, names in sorted(by_type.items()):
        archive = path / archive_name(metric_type)
        sources = ([archive] if archive.exists() else []) + [path / name for name in names]
        totals: dict[str, tuple[float, float]] = {}
        for source in sources:
            for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(str(source)):
                total, latest = totals.get(key, (0.0, 0.0))
                totals[key] = (total + value, max(latest, timestamp))
        tmp = path / (archive.name + _TMP_SUFFIX)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        mmaped = MmapedDict(str(tmp))
        try:
            for key, (value, timestamp) in totals.items():
                mmaped.write_value(key, value, timestamp)
        finally:
            mmaped.close()
        _fsync_file(tmp)
        staged[tmp.name] = archive.name
    return staged


def _write_journal(path: Path, staged: dict[str, str], claimed: list[str]) -> None:
    tmp = path / (JOURNAL_NAME + _TMP_SUFFIX)
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
