"""The server's side of a window, read from its workers' metric files, not asked of the server.

prometheus_client's multi-process mode keeps each worker's counters and histograms in files of
its own (``histogram_<pid>.db``) in the directory the launcher gives the server. Reading them
from the Locust process (same machine) takes milliseconds, whatever the server is doing, so
the snapshot is taken at the instant the window opens or closes, where a ``/metrics`` request
would queue behind the load it measures. The merged snapshot is written as an exposition (the
analysis parses it like a scrape); the per-file counts give each worker's requests.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from mysite.metrics import names

_PER_PROCESS = re.compile(r"histogram_(\d+)\.db$")


def _route_counts(path: Path) -> dict[str, float]:
    """One worker's requests per route, from its own histogram file."""
    counts: dict[str, float] = {}
    for metric in MultiProcessCollector.merge([str(path)], accumulate=True):
        for sample in metric.samples:
            if sample.name == names.SERVER_DURATION + "_count":
                route = sample.labels.get(names.ROUTE, "")
                counts[route] = counts.get(route, 0.0) + sample.value
    return counts


def snapshot(directory: Path, out: Path, boundary: dict) -> None:
    """Merge every file of ``directory`` into ``out`` (an exposition); note in ``boundary``
    each worker's request count per route and how long the copy of the files took."""
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="window-metrics-") as copy:
            # Copied first (a millisecond), parsed after: one instant for every file, so the
            # merged counts and the per-worker counts are of the same moment.
            for path in Path(directory).glob("*.db"):
                shutil.copyfile(path, Path(copy) / path.name)
            boundary["read_s"] = round(time.monotonic() - started, 4)
            registry = CollectorRegistry(auto_describe=False)
            MultiProcessCollector(registry, path=copy)
            out.write_bytes(generate_latest(registry))
            boundary["scrape_file"] = out.name
            boundary["per_process"] = {
                match.group(1): _route_counts(path)
                for path in sorted(Path(copy).glob("*.db"))
                if (match := _PER_PROCESS.search(path.name))
            }
    except (OSError, ValueError) as error:
        boundary["scrape_error"] = f"{type(error).__name__}: {error}"
        boundary.setdefault("read_s", round(time.monotonic() - started, 4))
