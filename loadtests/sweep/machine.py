"""What the run's metadata says about where it ran: the machine, the versions, the git state."""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

import psutil

from loadtests.analysis.records import GitState, Machine

PACKAGES = (
    "django",
    "locust",
    "uvicorn",
    "gunicorn",
    "uvicorn-worker",
    "httpx",
    "aiohttp",
    "uvloop",
)


def now_iso(unix: float | None = None) -> str:
    moment = datetime.datetime.fromtimestamp(unix, datetime.UTC) if unix else None
    return (moment or datetime.datetime.now(datetime.UTC)).isoformat(timespec="seconds")


def _git(*args: str) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=5, check=False
        )
        if done.returncode == 0:
            return done.stdout.strip()
    return None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> Machine:
    return Machine(
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count(),
        cpus_available=len(os.sched_getaffinity(0)),
        memory_gb=round(psutil.virtual_memory().total / 2**30, 1),
        platform=platform.platform(),
        python=sys.version.split()[0],
    )


def versions() -> dict[str, str | None]:
    found = {}
    for package in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    return found


def git_state() -> GitState:
    status = _git("status", "--porcelain")
    return GitState(
        commit=_git("rev-parse", "HEAD"), dirty=bool(status) if status is not None else None
    )
