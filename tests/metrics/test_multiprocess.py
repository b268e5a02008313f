"""Dead workers' live gauges go, whatever killed them; everything else of theirs stays."""

import os
import subprocess
import sys
import time
from types import SimpleNamespace

import psutil
import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client import multiprocess as prometheus_multiprocess

from mysite import gunicorn_conf, lifespan
from mysite.metrics import multiprocess


def exited_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def touch(directory, *names) -> None:
    for name in names:
        (directory / name).write_bytes(b"")


def test_drops_live_gauges_of_dead_processes_only(tmp_path):
    dead, me = exited_pid(), os.getpid()
    touch(
        tmp_path,
        f"gauge_livesum_{dead}.db",
        f"gauge_liveall_{dead}.db",
        f"histogram_{dead}.db",
        f"counter_{dead}.db",
        f"gauge_all_{dead}.db",
        f"gauge_livesum_{me}.db",
    )
    assert multiprocess.forget_dead_processes(tmp_path) == [dead]
    assert sorted(os.listdir(tmp_path)) == sorted(
        [
            f"histogram_{dead}.db",
            f"counter_{dead}.db",
            f"gauge_all_{dead}.db",
            f"gauge_livesum_{me}.db",
        ]
    )


def test_a_zombie_counts_as_dead(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while psutil.Process(process.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.01)
        touch(tmp_path, f"gauge_livesum_{process.pid}.db")
        assert multiprocess.forget_dead_processes(tmp_path) == [process.pid]
    finally:
        process.wait()


def test_files_removed_by_someone_else_meanwhile_are_no_error(tmp_path, monkeypatch):
    """Two workers scraping at once, or a scrape and gunicorn's child_exit, race to remove."""
    dead = exited_pid()
    touch(tmp_path, f"gauge_livesum_{dead}.db")
    real_glob = prometheus_multiprocess.glob.glob

    def glob_then_lose_the_race(pattern):
        found = real_glob(pattern)
        for path in found:
            os.remove(path)
        return found

    monkeypatch.setattr(prometheus_multiprocess.glob, "glob", glob_then_lose_the_race)
    assert multiprocess.forget_dead_processes(tmp_path) == [dead]
    assert os.listdir(tmp_path) == []


def test_mark_this_process_dead_without_a_directory_does_nothing(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    multiprocess.mark_this_process_dead()


def test_single_process_scrapes_read_the_process_registry(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert multiprocess.scrape_registry() is REGISTRY


def test_multi_process_scrapes_merge_the_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    registry = multiprocess.scrape_registry()
    assert isinstance(registry, CollectorRegistry)
    assert registry is not REGISTRY


@pytest.mark.parametrize("mode", ["livesum", "liveall", "livemax", "livemostrecent"])
def test_every_live_mode_is_recognised(tmp_path, mode):
    dead = exited_pid()
    touch(tmp_path, f"gauge_{mode}_{dead}.db")
    assert multiprocess.forget_dead_processes(tmp_path) == [dead]


async def test_a_uvicorn_worker_removes_its_live_gauges_at_shutdown(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    touch(tmp_path, f"gauge_livesum_{os.getpid()}.db", f"histogram_{os.getpid()}.db")
    await lifespan.run_shutdown()
    assert os.listdir(tmp_path) == [f"histogram_{os.getpid()}.db"]


def test_gunicorn_removes_an_exited_workers_live_gauges(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    dead = exited_pid()
    touch(tmp_path, f"gauge_livesum_{dead}.db", f"histogram_{dead}.db")
    gunicorn_conf.child_exit(server=None, worker=SimpleNamespace(pid=dead))
    assert os.listdir(tmp_path) == [f"histogram_{dead}.db"]
