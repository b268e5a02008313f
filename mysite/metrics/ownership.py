"""The multi-process metrics directory belongs to one server at a time.

The launcher ``claim``s the directory before any worker starts: it makes sure the directory is
this user's, private and not a symbolic link (a path someone else may have made first), takes an
exclusive ``flock`` on its ``.server.lock``, refuses while any process that wrote a file there is
still alive (a server started by hand, a process that inherited ``PROMETHEUS_MULTIPROC_DIR``:
prometheus_client takes no lock) and only then deletes the files an earlier run left
(prometheus_client's and the compaction's names, nothing else).
The lock's descriptor survives ``exec`` into the server, so the server holds the lock for its
whole life; a second launcher pointed at the same directory finds it held and refuses, before it
deletes anything. (Wiping a running server's files would leave its workers writing to unlinked
files: every count gone, for good.)

Standard library only: the launcher runs this before Django or prometheus_client load.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from .filenames import OWNER_LOCK_NAME, WORKER_FILE, is_removable
from .liveness import WriterLiveness, command_line

PRIVATE_MODE = 0o700


class DirectoryRefused(RuntimeError):
    """The directory cannot be this server's; the message says why and what to do."""


@dataclass(frozen=True)
class OwnedDirectory:
    path: Path
    lock_fd: int
    removed: tuple[str, ...]

    def keep_across_exec(self) -> None:
        """Let the server that this process becomes hold the lock (``execve`` keeps the fd)."""
        os.set_inheritable(self.lock_fd, True)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.lock_fd)

    def remove_when_released(self) -> None:
        """Delete the directory once nothing holds its lock: the server this process becomes,
        and every worker that inherited the lock, gone (for a directory made for this server
        alone). A watcher process does it, in a session of its own so that a signal to the
        server's process group or terminal does not reach it; it waits in ``flock``, no polling.
        Call it from a process with no other thread (it forks)."""
        if os.fork():
            return
        status = 1
        try:
            os.setsid()
            # The inherited lock descriptor would hold the lock itself: keep only stdio.
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)  # stderr stays: the server's log shows a failure
            fd = os.open(self.path / OWNER_LOCK_NAME, os.O_RDWR | os.O_NOFOLLOW)
            fcntl.flock(fd, fcntl.LOCK_EX)
            shutil.rmtree(self.path)
            status = 0
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.write(2, f"could not remove metrics directory {self.path}: {exc!r}\n".encode())
        finally:
            os._exit(status)


def claim(path: Path) -> OwnedDirectory:
    """Create or check ``path``, lock it for this server, then empty it of metric files."""
    path = Path(os.path.abspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, PRIVATE_MODE)
    dir_fd = _open_checked(path)
    try:
        lock_fd = _lock(path, dir_fd)
        try:
            _refuse_live_writers(path, dir_fd)
        except BaseException:
            os.close(lock_fd)
            raise
        removed = []
        for entry in os.scandir(dir_fd):
            if is_removable(entry.name) and not entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.name, dir_fd=dir_fd)
                removed.append(entry.name)
    finally:
        os.close(dir_fd)
    return OwnedDirectory(path, lock_fd, tuple(sorted(removed)))


def holder(path: Path) -> int | None:
    """The pid that the directory's lock file names, when the lock is held; else None."""
    try:
        fd = os.open(Path(path) / OWNER_LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd)
        return None
    finally:
        os.close(fd)


def _open_checked(path: Path) -> int:
    """Open the directory without following a link, and refuse it unless private and ours."""
    try:
        dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise DirectoryRefused(
                f"metrics directory {path} is a symbolic link or not a directory: "
                "refusing it (choose another with --metrics-dir)"
            ) from exc
        raise
    try:
        # fstat of what was opened: no window between the check and the use.
        info = os.fstat(dir_fd)
        if info.st_uid != os.geteuid():
            raise DirectoryRefused(
                f"metrics directory {path} belongs to uid {info.st_uid}, not to this user "
                f"({os.geteuid()}): refusing it (choose another with --metrics-dir)"
            )
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise DirectoryRefused(
                f"metrics directory {path} is open to other users "
                f"(mode {stat.S_IMODE(info.st_mode):o}): refusing it "
                f"(chmod {PRIVATE_MODE:o} it, or choose another with --metrics-dir)"
            )
    except BaseException:
        os.close(dir_fd)
        raise
    return dir_fd


def live_writers(dir_fd: int) -> dict[int, list[str]]:
    """The pids named by the directory's process files that are still their writers' (pid
    reuse told apart as the scrape does: ``liveness.WriterLiveness``), with their files."""
    alive = WriterLiveness(dir_fd)
    found: dict[int, list[str]] = {}
    for entry in os.scandir(dir_fd):
        match = WORKER_FILE.fullmatch(entry.name)
        if match and alive(pid := int(match["pid"])):
            found.setdefault(pid, []).append(entry.name)
    return found


def _refuse_live_writers(path: Path, dir_fd: int) -> None:
    writers = live_writers(dir_fd)
    if not writers:
        return
    described = "; ".join(
        f"pid {pid} ({', '.join(sorted(files))}"
        + (f": {command[:80]}" if (command := command_line(pid)) else "")
        + ")"
        for pid, files in sorted(writers.items())
    )
    raise DirectoryRefused(
        f"metrics directory {path} has files that running processes are still writing: "
        f"{described}. Refusing to wipe it (stop them: kill {' '.join(map(str, sorted(writers)))}"
        "; or choose another directory with --metrics-dir)"
    )


def _lock(path: Path, dir_fd: int) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    lock_fd = os.open(OWNER_LOCK_NAME, flags, 0o600, dir_fd=dir_fd)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(lock_fd)
        os.close(lock_fd)
        raise DirectoryRefused(
            f"metrics directory {path} is held by a running server (pid {pid}): refusing to "
            "wipe it (stop that server, or choose another directory with --metrics-dir)"
        ) from None
    os.ftruncate(lock_fd, 0)
    os.pwrite(lock_fd, f"{os.getpid()}\n".encode(), 0)
    return lock_fd


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None
