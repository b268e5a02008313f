"""``results.json``: the sweep's one record, written again (atomically) after every cell.

``{"meta": {...}, "cells": [...], "panels": [...]}``: the report is rendered from this file
alone. ``meta`` says what ran where (versions, machine, pinning, git commit, profile, start
and end, status); ``panels`` is for extensions (see ``hooks``) and may be absent.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

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
SCHEMA = 1
REQUIRED_CELL_FIELDS = (
    "server",
    "workers",
    "scenario",
    "users",
    "requests",
    "failures",
    "rps",
    "latency_ms",
    "server_latency_ms",
    "littles_law_rps",
    "efficiency",
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


def _memory_gb() -> float | None:
    with contextlib.suppress(ImportError, OSError):
        import psutil

        return round(psutil.virtual_memory().total / 2**30, 1)
    return None


def machine() -> dict:
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)),
        "memory_gb": _memory_gb(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


def versions() -> dict:
    found = {}
    for package in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    return found


def git_state() -> dict:
    status = _git("status", "--porcelain")
    return {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def write(path: Path, results: dict) -> None:
    """Replace ``path`` atomically: a reader (or a Ctrl-C) never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False, default=str))
    os.replace(tmp, path)


def load(path: Path) -> dict:
    results = json.loads(Path(path).read_text())
    problems = validate(results)
    if problems:
        raise ValueError(f"{path} is not a sweep's results.json: {'; '.join(problems)}")
    return results


def validate(results: dict) -> list[str]:
    """What is missing from a results.json, as short sentences (empty when it is whole)."""
    problems = []
    if not isinstance(results.get("meta"), dict):
        problems.append("no meta object")
    cells = results.get("cells")
    if not isinstance(cells, list):
        return [*problems, "no cells list"]
    for index, cell in enumerate(cells):
        missing = [f for f in REQUIRED_CELL_FIELDS if f not in cell]
        if missing:
            problems.append(f"cell {index} lacks {', '.join(missing)}")
    return problems
