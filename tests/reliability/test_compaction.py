"""Compaction of dead workers' metric files: totals exact, files gone, safe in races and crashes."""

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mysite.metrics import compaction

from .metricfiles import collect, impossible_pid, is_alive, write_process_files

REAL_WORKER = """
import sys
from prometheus_client import Counter, Histogram
jobs = Counter("jobs", "Jobs.", ["kind"])
latency = Histogram("latency_seconds", "Latency.", ["route"], buckets=(0.1, 1.0))
for i in range(int(sys.argv[1])):
    jobs.labels(kind=str(i % 3)).inc(0.5)
    latency.labels(route="/r%d" % (i % 2)).observe((i % 4) * 0.25)
"""


def run_real_workers(path: Path, counts: list[int]) -> None:
    """One short-lived process per count, writing through prometheus_client, then exiting."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(path)}
    for count in counts:
        subprocess.run([sys.executable, "-c", REAL_WORKER, str(count)], env=env, check=True)


def files(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def test_real_workers_values_preserved_exactly_and_files_gone(tmp_path):
    run_real_workers(tmp_path, [7, 11, 13])
    own = tmp_path / f"counter_{os.getpid()}.db"  # a live process's file must stay
    write_process_files(tmp_path, os.getpid(), seed=1)
    before = collect(tmp_path, locked=False)

    merged = compaction.compact(tmp_path, is_alive)

    assert len(merged) == 6  # three dead processes, a counter and a histogram file each
    assert collect(tmp_path, locked=False) == before
    assert [name for name in files(tmp_path) if name.endswith(".db")] == sorted(
        ["counter_archive.db", "histogram_archive.db", own.name, f"histogram_{os.getpid()}.db"]
    )
    # More workers die later: merged into the existing archives, still exact.
    run_real_workers(tmp_path, [5, 9])
    before = collect(tmp_path, locked=False)
    assert len(compaction.compact(tmp_path, is_alive)) == 4
    assert collect(tmp_path, locked=False) == before
    assert compaction.compact(tmp_path, is_alive) == []  # nothing left to do


def test_many_dead_workers_scrape_time_and_file_count(tmp_path, figure):
    dead = 400
    for n in range(dead):
        write_process_files(tmp_path, impossible_pid(n), seed=n)
    started = time.perf_counter()
    before = collect(tmp_path)
    scrape_before = time.perf_counter() - started
    files_before = len(files(tmp_path))

    started = time.perf_counter()
    compaction.compact(tmp_path, is_alive)
    compaction_time = time.perf_counter() - started
    started = time.perf_counter()
    after = collect(tmp_path)
    scrape_after = time.perf_counter() - started

    assert after == before
    assert [name for name in files(tmp_path) if name.endswith(".db")] == [
        "counter_archive.db",
        "histogram_archive.db",
    ]
    figure("metric files, 400 dead workers", f"{files_before} -> {len(files(tmp_path))}")
    figure(
        "scrape (collect) time", f"{scrape_before * 1000:.1f} ms -> {scrape_after * 1000:.1f} ms"
    )
    figure("one compaction of 800 files", f"{compaction_time * 1000:.0f} ms", "< 10 s")
    assert scrape_after < scrape_before
    assert compaction_time < 10


def test_two_compacting_processes_and_a_scraper_never_double_count(tmp_path, figure):
    """Two processes add dead workers' files and compact at once while a third scrapes."""
    rounds, per_round = 20, 20
    reference = tmp_path / "reference"
    racing = tmp_path / "racing"
    reference.mkdir()
    racing.mkdir()
    first_pids = (0, 10_000)
    for first in first_pids:
        for pid in range(first, first + rounds * per_round):
            write_process_files(reference, impossible_pid(pid), pid)
    expected = collect(reference, locked=False)

    context = multiprocessing.get_context("spawn")
    barrier, results, stop = context.Barrier(3), context.Queue(), context.Event()
    from . import metricfiles

    compactors = [
        context.Process(
            target=metricfiles.compactor,
            args=(str(racing), first, rounds, per_round, barrier, results),
        )
        for first in first_pids
    ]
    scraper = context.Process(
        target=metricfiles.scraper, args=(str(racing), expected, stop, barrier, results)
    )
    for process in [*compactors, scraper]:
        process.start()
    try:
        reports = [results.get(timeout=120) for _ in compactors]
        stop.set()
        reports.append(results.get(timeout=60))
    finally:
        stop.set()
        for process in [*compactors, scraper]:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()

    merged = sum(report for kind, report in reports if kind == "compactor")
    scraped = next(report for kind, report in reports if kind == "scraper")
    compaction.compact(racing, is_alive)
    figure("concurrent scrapes during the race", scraped["scrapes"])
    figure(
        "decreases / excesses / errors seen",
        "{decreases} / {excesses} / {errors}".format(**scraped),
        "0 / 0 / []",
    )
    assert scraped == {**scraped, "errors": [], "decreases": 0, "excesses": 0}
    assert scraped["scrapes"] > 0
    assert merged <= 2 * 2 * rounds * per_round  # the scraper's compactions merge some too
    assert collect(racing, locked=False) == expected
    assert [name for name in files(racing) if not name.startswith(".")] == [
        "counter_archive.db",
        "histogram_archive.db",
    ]


class Crash(BaseException):
    """The process dies here."""


def crash_on_call(monkeypatch, name: str, call: int) -> None:
    real = getattr(compaction, name)
    calls = {"n": 0}

    def step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise Crash(f"{name} call {call}")
        return real(*args, **kwargs)

    monkeypatch.setattr(compaction, name, step)


@pytest.mark.parametrize(
    ("step", "call", "moment"),
    [
        ("_fsync_file", 1, "while writing the first archive"),
        ("_fsync_file", 3, "after the archives, before the journal"),
        ("_fsync_dir", 1, "after the journal, before the renames"),
        ("_fsync_dir", 2, "after the renames, before the deletions"),
        ("_fsync_dir", 3, "after the journal is removed, before the last fsync"),
    ],
)
def test_a_crash_leaves_state_that_the_next_compaction_completes(
    tmp_path, monkeypatch, step, call, moment
):
    for n in range(3):
        write_process_files(tmp_path, impossible_pid(n), seed=n)
    compaction.compact(tmp_path, is_alive)  # an archive exists, as after earlier restarts
    for n in range(3, 8):
        write_process_files(tmp_path, impossible_pid(n), seed=n)
    expected = collect(tmp_path, locked=False)

    with monkeypatch.context() as patch:
        crash_on_call(patch, step, call)
        with pytest.raises(Crash):
            compaction.compact(tmp_path, is_alive)

    # What a scrape sees after the crash: it compacts first, which finishes or redoes the round.
    compaction.compact(tmp_path, is_alive)
    assert collect(tmp_path) == expected, moment
    assert [name for name in files(tmp_path) if not name.startswith(".compaction.lock")] == [
        "counter_archive.db",
        "histogram_archive.db",
    ], moment


def test_scrape_registry_compacts_and_reads_under_the_lock(tmp_path, monkeypatch):
    """The exposition path (``scrape_registry``) runs compaction, then reads consistently."""
    from prometheus_client import generate_latest

    from mysite.metrics import multiprocess

    for n in range(20):
        write_process_files(tmp_path, impossible_pid(n), seed=n)
    expected = collect(tmp_path, locked=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    registry = multiprocess.scrape_registry()
    text = generate_latest(registry).decode()

    assert [name for name in files(tmp_path) if name.endswith(".db")] == [
        "counter_archive.db",
        "histogram_archive.db",
    ]
    assert collect(tmp_path) == expected
    assert 'jobs_total{kind="a"}' in text
