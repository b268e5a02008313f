"""The metrics directory belongs to one server: locked for its life, private, and wiped of
prometheus_client's and the compaction's files only, and only of processes that are dead.

The faults the reviews found: a second launcher on the same directory wiped the running
server's files, its bind then failed, and the first server's counts were gone for good; a
process writing through prometheus_client (started by hand, or with an inherited
``PROMETHEUS_MULTIPROC_DIR``) lost its file the same way, as it takes no lock; the default
directory's path was predictable, so another user who made it first blocked ``make run``; and
every run left its directory behind on tmpfs.
"""

import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.mmap_dict import MmapedDict

from mysite.launcher import free_port, managed_process, memory_backed_dir
from mysite.metrics import compaction, filenames, multiprocess, ownership
from mysite.metrics.filenames import OWNER_LOCK_NAME

from .helpers import scrape, total
from .metricfiles import impossible_pid

REQUESTS = 30
# Process files carry pids no process can have: a live one's file is a reason to refuse.
DEAD = [impossible_pid(n) for n in range(5)]
OURS = [
    f"counter_{DEAD[0]}.db",
    f"histogram_{DEAD[1]}.db",
    f"gauge_livesum_{DEAD[2]}.db",
    f"gauge_all_{DEAD[3]}.db",
    f"summary_{DEAD[4]}.db",
    "histogram_archive.db",
    "counter_archive.carry-1.db",
    "counter_archive.db.tmp",
    "histogram_77.db.merging-0123abcd",
    "counter_5.db.quarantined-deadbeef",
    ".compaction.journal",
    ".compaction.journal.tmp",
    ".compaction.journal.rejected-01234567",
]
FOREIGN = [
    "app.db",
    "users.db-journal",
    "notes.dbx",
    "backup.db.gz",
    "counter_x.db",
    "counter_1.db.bak",
    "histogram_12.db~",
    "gauge_weird_1.db",
    "README",
    "counter_1.db.merging-nothex00",
    "counter_\u0661\u0662.db",
    "gauge_livesum_\u0663.db",
]


def inodes(directory) -> dict[str, int]:
    return {entry.name: entry.inode() for entry in os.scandir(directory)}


def launcher(port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mysite.launcher",
        "--server",
        "uvicorn",
        "--workers",
        "2",
        "--port",
        str(port),
        "--no-system-checks",
        *extra,
    ]


@pytest.mark.live
def test_a_second_launcher_on_the_same_directory_refuses_and_the_counts_stay(tmp_path, figure):
    port = free_port()
    directory = tmp_path / "metrics"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
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
            scrape(first.url),
            "http_server_request_duration_seconds_count",
            http_route="/async/api/",
        )
        files_after = inodes(directory)
        held_by = ownership.holder(directory)
        first_pid = first.pid
    # Stopped: the lock goes with the server, and the directory can be claimed again.
    claimed = ownership.claim(directory)
    claimed.release()
    figure("second launcher on the same directory: exit status, message", second.stderr.strip())
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


PROMETHEUS_CLIENT_WRITER = (
    "import time\n"
    "from prometheus_client import Counter\n"
    "Counter('jobs', 'Jobs.').inc(5)\n"
    "print('ready', flush=True)\n"
    "time.sleep(120)\n"
)


def values_in(file) -> dict[str, float]:
    return {key: value for key, value, _, _ in MmapedDict.read_all_values_from_file(str(file))}


@pytest.mark.live
def test_a_live_prometheus_client_writer_keeps_its_file(tmp_path, figure):
    """A process writing ``counter_<pid>.db`` through prometheus_client in a directory that a
    launcher then claims (inherited ``PROMETHEUS_MULTIPROC_DIR``, port busy, as the review had
    it). Before: the launcher wiped the file, then failed on the port: the writer's counts gone."""
    directory = tmp_path / "metrics"
    directory.mkdir(mode=0o700)
    dead_file = directory / f"counter_{impossible_pid(1)}.db"
    dead_file.write_bytes(b"")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    with (
        subprocess.Popen(
            [sys.executable, "-c", PROMETHEUS_CLIENT_WRITER],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        ) as writer,
        socket.socket() as busy,
    ):
        try:
            assert writer.stdout.readline().strip() == "ready"
            written = directory / f"counter_{writer.pid}.db"
            inode = written.stat().st_ino
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            refused = subprocess.run(
                launcher(busy.getsockname()[1]),
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            kept = written.exists() and written.stat().st_ino == inode
            values = values_in(written)
            dead_kept = dead_file.exists()
        finally:
            writer.kill()
            writer.wait()
    figure("launcher on a live writer's directory: message", refused.stderr.strip())
    assert refused.returncode != 0
    assert f"pid {writer.pid} (counter_{writer.pid}.db" in refused.stderr
    assert f"kill {writer.pid}" in refused.stderr
    assert "PROMETHEUS_MULTIPROC_DIR names it" in refused.stderr
    assert kept, "the live writer's file was deleted"
    assert list(values.values()) == [5.0]
    assert dead_kept, "a refusal deletes nothing"
    # The writer gone, its file is a dead pid's like any other: a new server may wipe it.
    owned = ownership.claim(directory)
    owned.release()
    assert sorted(owned.removed) == sorted([written.name, dead_file.name])


def test_non_ascii_digits_are_not_a_pid(tmp_path):
    """``int`` reads Arabic-Indic digits: ``counter_<this pid in them>.db`` was taken as this
    live process's file. Such a name is no process file of ours: not a live writer that blocks
    a claim, not deleted, not merged, not read by a scrape."""
    arabic = str.maketrans(
        "0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
    )
    pid = str(os.getpid()).translate(arabic)
    names = [f"counter_{pid}.db", f"gauge_livesum_{pid}.db"]
    directory = tmp_path / "metrics"
    directory.mkdir(mode=0o700)
    for name in names:
        assert int(name.split("_")[-1].removesuffix(".db")) == os.getpid()  # what \d let in
        assert not filenames.WORKER_FILE.fullmatch(name)
        assert not filenames.LIVE_GAUGE_FILE.fullmatch(name)
        assert not filenames.is_removable(name)
        assert not filenames.is_collected(name)
        (directory / name).write_text("x")

    owned = ownership.claim(directory)  # not refused as this live process's files
    owned.release()

    assert owned.removed == ()
    assert sorted(os.listdir(directory)) == sorted([*names, OWNER_LOCK_NAME])
    assert multiprocess.forget_dead_processes(directory, lambda pid: False) == []
    assert compaction.compact(directory, lambda pid: False) == []


def test_a_live_writer_refuses_the_claim_before_anything_is_deleted(tmp_path):
    """The refusal names every live writer with its command, and deletes nothing."""
    directory = tmp_path / "metrics"
    directory.mkdir(mode=0o700)
    (directory / f"counter_{os.getpid()}.db").write_text("x")
    (directory / f"gauge_livesum_{os.getpid()}.db").write_text("x")
    (directory / "histogram_archive.db").write_text("x")
    with pytest.raises(ownership.DirectoryRefused) as refused:
        ownership.claim(directory)
    message = str(refused.value)
    assert (
        f"pid {os.getpid()} (counter_{os.getpid()}.db, gauge_livesum_{os.getpid()}.db: " in message
    )
    assert "pytest" in message  # this process's command line
    assert f"kill {os.getpid()}" in message
    assert len(os.listdir(directory)) == 4  # three files and the lock, released
    assert ownership.holder(directory) is None


NOBODY = 65534


def default_env() -> dict[str, str]:
    """The environment of a plain ``make run``: no metrics directory named, no runtime one."""
    unset = ("PROMETHEUS_MULTIPROC_DIR", "XDG_RUNTIME_DIR")
    return {k: v for k, v in os.environ.items() if k not in unset}


def watchers(port: int) -> list[psutil.Process]:
    """Processes still running the launcher's command line for ``port`` (its watcher)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "mysite.launcher" in cmdline and str(port) in cmdline:
            found.append(process)
    return found


def gone_within(path: Path, seconds: float) -> float | None:
    """Seconds until ``path`` no longer exists; None if it still does after ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if not os.path.lexists(path):
            return time.monotonic() - started
        time.sleep(0.02)
    return None


@pytest.mark.live
def test_the_default_directory_is_private_unguessable_and_gone_after_the_server(figure):
    """Before: ``/dev/shm/mysite-metrics-<uid>-<port>``, left behind by every run."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with managed_process("default-dir", launcher(port), url, env=default_env()) as server:
        directory = Path(psutil.Process(server.pid).environ()["PROMETHEUS_MULTIPROC_DIR"])
        info = os.lstat(directory)
        status = httpx.get(url + "/metrics", timeout=10).status_code
    removed_after = gone_within(directory, 30)
    deadline = time.monotonic() + 10
    while watchers(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    watcher_left = watchers(port)
    figure("default metrics directory", f"{directory} (mode {stat.S_IMODE(info.st_mode):o})")
    figure(
        "directory gone, counted from the server's stop returning",
        "still there after 30 s" if removed_after is None else f"{removed_after:.2f} s",
        "< 30 s",
    )
    assert status == 200
    assert stat.S_ISDIR(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == os.geteuid()
    assert directory.parent == memory_backed_dir()
    assert directory.name != f"mysite-metrics-{os.geteuid()}-{port}"
    prefix = f"mysite-metrics-{port}-"
    assert directory.name.startswith(prefix)
    assert len(directory.name) >= len(prefix) + 8  # mkdtemp's random part
    assert removed_after is not None, f"{directory} outlived its server"
    assert not watcher_left


@pytest.mark.live
def test_another_user_cannot_block_the_default_directory(figure):
    """Another user makes the old predictable path first (``setpriv`` as nobody; without root,
    a directory open to everyone stands in: it was refused the same way). Before: ``Not
    starting: metrics directory /dev/shm/mysite-metrics-0-<port> belongs to uid 65534``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    squatted = memory_backed_dir() / f"mysite-metrics-{os.geteuid()}-{port}"
    if os.geteuid() == 0:
        subprocess.run(
            [
                "setpriv",
                f"--reuid={NOBODY}",
                f"--regid={NOBODY}",
                "--clear-groups",
                "mkdir",
                "-m",
                "777",
                str(squatted),
            ],
            check=True,
        )
    else:
        squatted.mkdir()
        squatted.chmod(0o777)
    try:
        with managed_process("squatted", launcher(port), url, env=default_env()) as server:
            directory = Path(psutil.Process(server.pid).environ()["PROMETHEUS_MULTIPROC_DIR"])
            status = httpx.get(url + "/healthz", timeout=10).status_code
        squatter = os.lstat(squatted)
        removed_after = gone_within(directory, 30)
    finally:
        shutil.rmtree(squatted, ignore_errors=True)
    figure("launcher with the old path taken by another user", f"/healthz {status}; {directory}")
    assert status == 200
    assert directory != squatted
    assert squatter.st_uid == (NOBODY if os.geteuid() == 0 else os.geteuid())  # untouched
    assert removed_after is not None
