"""The metrics directory belongs to one server: locked for its life, private, and wiped of
prometheus_client's and the compaction's files only.

The fault the review found: a second launcher on the same port wiped the running server's
directory (its default path is per port), its bind then failed, and the first server's counts
were gone for good. Now the second launcher refuses before it deletes anything.
"""

import os
import shutil
import stat
import subprocess
import sys

import httpx
import pytest

from mysite.launcher import default_metrics_dir, free_port, managed_process
from mysite.metrics import ownership
from mysite.metrics.filenames import OWNER_LOCK_NAME

from .helpers import scrape, total

REQUESTS = 30
OURS = [
    "counter_123.db", "histogram_4567.db", "gauge_livesum_89.db", "gauge_all_12.db",
    "summary_3.db", "histogram_archive.db", "counter_archive.carry-1.db",
    "counter_archive.db.tmp", "histogram_77.db.merging-0123abcd",
    "counter_5.db.quarantined-deadbeef", ".compaction.journal", ".compaction.journal.tmp",
    ".compaction.journal.rejected-01234567",
]  # fmt: skip
FOREIGN = [
    "app.db", "users.db-journal", "notes.dbx", "backup.db.gz", "counter_x.db", "counter_1.db.bak",
    "histogram_12.db~", "gauge_weird_1.db", "README", "counter_1.db.merging-nothex00",
]  # fmt: skip


def inodes(directory) -> dict[str, int]:
    return {entry.name: entry.inode() for entry in os.scandir(directory)}


def launcher(port: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "mysite.launcher", "--server", "uvicorn", "--workers", "2",
        "--port", str(port), "--no-system-checks", *extra,
    ]  # fmt: skip


@pytest.mark.live
def test_a_second_launcher_on_the_same_port_refuses_and_the_counts_stay(figure):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    directory = default_metrics_dir(port)
    try:
        with (
            managed_process("first", launcher(port), f"http://127.0.0.1:{port}", env=env) as first,
            httpx.Client(timeout=10) as client,
        ):
            for _ in range(REQUESTS):
                client.get(first.url + "/async/api/", params={"delay": 0}).raise_for_status()
            files_before = inodes(directory)
            second = subprocess.run(
                launcher(port), env=env, capture_output=True, text=True, timeout=60, check=False
            )
            counted = total(
                scrape(first.url), "http_server_request_duration_seconds_count",
                http_route="/async/api/",
            )  # fmt: skip
            files_after = inodes(directory)
            held_by = ownership.holder(directory)
            first_pid = first.pid
        # Stopped: the lock goes with the server, and the directory can be claimed again.
        claimed = ownership.claim(directory)
        claimed.release()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    figure("second launcher on the same port: exit status, message", second.stderr.strip())
    figure("first server's count after the second launcher", f"{counted:g} of {REQUESTS}")
    assert second.returncode != 0
    assert "held by a running server" in second.stderr
    assert f"pid {first_pid}" in second.stderr
    assert held_by == first_pid
    assert counted == REQUESTS
    # Every file the workers had is still there, the same file (not deleted and made again).
    assert files_after.items() >= files_before.items()


def test_the_wipe_deletes_only_metric_files(tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir(mode=0o700)
    for name in OURS + FOREIGN:
        (directory / name).write_text("x")
    (directory / "histogram_9.db.merging-0123abcd.d").mkdir()  # a directory: never removed

    owned = ownership.claim(directory)
    owned.release()

    left = sorted(os.listdir(directory))
    assert left == sorted([*FOREIGN, "histogram_9.db.merging-0123abcd.d", OWNER_LOCK_NAME])
    assert sorted(owned.removed) == sorted(OURS)


def test_a_new_directory_is_private(tmp_path):
    owned = ownership.claim(tmp_path / "new" / "metrics")
    owned.release()
    assert stat.S_IMODE(os.stat(owned.path).st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o755, 0o770, 0o707, 0o1777])
def test_a_directory_open_to_others_is_refused_untouched(tmp_path, mode):
    directory = tmp_path / "metrics"
    directory.mkdir()
    os.chmod(directory, mode)
    (directory / "counter_1.db").write_text("x")
    with pytest.raises(ownership.DirectoryRefused, match="open to other users"):
        ownership.claim(directory)
    assert sorted(os.listdir(directory)) == ["counter_1.db"]


def test_a_directory_of_another_user_is_refused_untouched(tmp_path, monkeypatch):
    directory = tmp_path / "metrics"
    directory.mkdir(mode=0o700)
    (directory / "counter_1.db").write_text("x")
    if os.geteuid() == 0:
        os.chown(directory, 65534, 65534)  # nobody: as if someone else had created it first
    else:  # an unprivileged run cannot give a directory away; it sees itself as someone else
        monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1)
    with pytest.raises(ownership.DirectoryRefused, match="belongs to uid"):
        ownership.claim(directory)
    assert sorted(os.listdir(directory)) == ["counter_1.db"]


def test_a_symbolic_link_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (target / "counter_1.db").write_text("x")
    link = tmp_path / "metrics"
    link.symlink_to(target)
    with pytest.raises(ownership.DirectoryRefused, match="symbolic link"):
        ownership.claim(link)
    assert sorted(os.listdir(target)) == ["counter_1.db"]


def test_a_held_directory_is_refused_before_anything_is_deleted(tmp_path):
    directory = tmp_path / "metrics"
    first = ownership.claim(directory)
    try:
        (directory / "counter_1.db").write_text("x")
        with pytest.raises(ownership.DirectoryRefused, match=f"pid {os.getpid()}"):
            ownership.claim(directory)
        assert (directory / "counter_1.db").exists()
    finally:
        first.release()
