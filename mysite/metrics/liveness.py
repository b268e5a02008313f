"""Is the process that writes a metric file still alive? Judged only on evidence that holds on
the platform it runs on.

- ``kill(pid, 0)`` everywhere: no such process means dead.
- A zombie (exited, not yet reaped) is dead, where ``/proc`` shows it; without ``/proc`` (macOS,
  some sandboxes) a process that exists counts as alive: taking a live worker for dead would
  compact its file while it writes and freeze its counts, while the opposite mistake only keeps
  a file a little longer.
- A pid the kernel gave to a later process: where ``/proc`` shows start times, a process that
  started after the files with its pid were last changed did not write them, unless it has
  them mapped (a new worker that reused the pid continues the old file, as prometheus_client
  does). Without that evidence the pid counts as alive.
"""

from __future__ import annotations

import os
from pathlib import Path

from .filenames import WORKER_FILE

PROC = Path("/proc")
# /proc/stat gives the boot time in whole seconds: a start time can be off by up to one.
REUSE_MARGIN = 2.0


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, under another user
    except OverflowError:
        return False  # beyond any pid
    return not _is_zombie(pid)


class WriterLiveness:
    """``is_alive`` with the pid-reuse check, for the pids of one directory's files (a snapshot
    of their change times and inodes, taken once per scrape). ``path`` may be an open
    directory's descriptor."""

    def __init__(self, path: Path | str | int):
        self._files: dict[int, list[os.stat_result]] = {}
        for entry in os.scandir(path):
            match = WORKER_FILE.fullmatch(entry.name)
            if match:
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                self._files.setdefault(int(match["pid"]), []).append(info)

    def __call__(self, pid: int) -> bool:
        if not is_alive(pid):
            return False
        files = self._files.get(pid)
        started = start_time(pid)
        if not files or started is None:
            return True
        if started <= max(info.st_ctime for info in files) + REUSE_MARGIN:
            return True  # it was there when its files last changed
        mapped = mapped_inodes(pid)
        return mapped is None or bool(mapped & {(i.st_dev, i.st_ino) for i in files})


def start_time(pid: int) -> float | None:
    """When ``pid`` started, in seconds since the epoch; None without ``/proc``."""
    try:
        stat = (PROC / str(pid) / "stat").read_bytes()
        boot = next(
            float(line.split()[1])
            for line in (PROC / "stat").read_bytes().splitlines()
            if line.startswith(b"btime ")
        )
        ticks = int(stat.rsplit(b")", 1)[1].split()[19])  # field 22, starttime
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def command_line(pid: int) -> str | None:
    """``pid``'s command line, for a message; None when ``/proc`` does not say."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    # On one line whatever its arguments hold (a ``-c`` program's newlines).
    return " ".join(raw.decode(errors="replace").replace("\0", " ").split()) or None


def mapped_inodes(pid: int) -> set[tuple[int, int]] | None:
    """The (device, inode) of every file ``pid`` has mapped; None when ``/proc`` does not say."""
    try:
        maps = (PROC / str(pid) / "maps").read_text()
    except OSError:
        return None
    found = set()
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) >= 5 and fields[4] != "0":
            major, minor = (int(part, 16) for part in fields[3].split(":"))
            found.add((os.makedev(major, minor), int(fields[4])))
    return found


def _is_zombie(pid: int) -> bool:
    try:
        stat = (PROC / str(pid) / "stat").read_bytes()
    except FileNotFoundError:
        # With /proc mounted, a pid that has no entry has just exited; without it, no evidence.
        return (PROC / "self").exists()
    except OSError:
        return False
    fields = stat.rsplit(b")", 1)[-1].split()
    return bool(fields) and fields[0] == b"Z"
