"""prometheus_client's private names the lab relies on, as the installed release has them.

The metrics code reads the multi-process files with prometheus_client's own parser and merges
them with its collector's internals (``mysite/metrics/collector.py``), writes the compaction's
archives with its memory-mapped dict (``compaction.py``), names files as its ``values.py`` does
(``filenames.py``), and the metrics table reads the instruments' attributes
(``dashboards/metrics_doc.py``). None of this is public API, so ``pyproject.toml`` keeps
prometheus-client below the next minor release, and a release that moves any of it fails here,
by name, before a scrape misreads a file.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.mmap_dict import MmapedDict

from mysite.metrics import filenames
from mysite.metrics.collector import LockedMultiProcessCollector, read_values

VERSION = importlib.metadata.version("prometheus-client")
ROOT = Path(__file__).resolve().parents[2]
MISSING = object()


def changed(api: str, users: str, detail: str) -> str:
    return (
        f"prometheus_client {VERSION} changed its private {api} ({detail}); {users} relies on "
        "it. Read it in this release, adapt that code, then move the prometheus-client bound "
        "in pyproject.toml."
    )


# (where, signature or None for a plain attribute, static method?, who relies on it)
PRIVATE_CALLABLES = [
    (
        "prometheus_client.mmap_dict:MmapedDict.__init__",
        "(self, filename, read_mode=False)",
        False,
        "mysite/metrics/compaction.py (writes the archives)",
    ),
    (
        "prometheus_client.mmap_dict:MmapedDict.write_value",
        "(self, key, value, timestamp)",
        False,
        "mysite/metrics/compaction.py (writes the archives)",
    ),
    (
        "prometheus_client.mmap_dict:MmapedDict.close",
        "(self)",
        False,
        "mysite/metrics/compaction.py (writes the archives)",
    ),
    (
        "prometheus_client.mmap_dict:MmapedDict.read_all_values_from_file",
        "(filename)",
        True,
        "mysite/metrics/collector.py (read_values)",
    ),
    (
        "prometheus_client.multiprocess:MultiProcessCollector.__init__",
        "(self, registry, path=None)",
        False,
        "mysite/metrics/collector.py (its subclass)",
    ),
    (
        "prometheus_client.multiprocess:MultiProcessCollector._read_metrics",
        "(files)",
        True,
        "mysite/metrics/collector.py (reads file by file)",
    ),
    (
        "prometheus_client.multiprocess:MultiProcessCollector._accumulate_metrics",
        "(metrics, accumulate)",
        True,
        "mysite/metrics/collector.py (merges the files)",
    ),
]


def resolve(where: str, users: str):
    """The object at ``module:Attr.attr``, fetched without the descriptor protocol."""
    module_name, _, path = where.partition(":")
    try:
        found = importlib.import_module(module_name)
    except ImportError as exc:
        pytest.fail(changed(f"module {module_name}", users, f"cannot import it: {exc}"))
    for attribute in path.split("."):
        found = inspect.getattr_static(found, attribute, MISSING)
        if found is MISSING:
            pytest.fail(changed(where, users, f"it has no {attribute!r}"))
    return found


@pytest.mark.parametrize(
    ("where", "signature", "static", "users"),
    PRIVATE_CALLABLES,
    ids=[where.partition(":")[2] for where, *_ in PRIVATE_CALLABLES],
)
def test_private_callables_keep_their_signatures(where, signature, static, users):
    found = resolve(where, users)
    if static != isinstance(found, staticmethod):
        kind = "a static method" if static else "an instance method"
        pytest.fail(changed(where, users, f"it is no longer {kind}"))
    function = found.__func__ if static else found
    actual = str(inspect.signature(function))
    assert actual == signature, changed(where, users, f"signature {actual}, was {signature}")


def test_gauge_modes_are_the_ones_the_file_names_know():
    users = "mysite/metrics/filenames.py (GAUGE_MODES, which files are whose)"
    modes = resolve("prometheus_client.metrics:Gauge._MULTIPROC_MODES", users)
    assert set(modes) == set(filenames.GAUGE_MODES), changed(
        "Gauge._MULTIPROC_MODES", users, f"now {sorted(modes)}"
    )


def test_instrument_attributes_the_metrics_table_reads():
    users = "dashboards/metrics_doc.py (the metrics table) and tests/metrics/test_conf.py"
    counter = Counter("guard_events", "Events.", ["route"], registry=None)
    histogram = Histogram("guard_seconds", "Seconds.", buckets=(0.1, 1.0), registry=None)
    expected = {
        (counter, "_name"): "guard_events",
        (counter, "_type"): "counter",
        (counter, "_labelnames"): ("route",),
        (counter, "_documentation"): "Events.",
        (histogram, "_type"): "histogram",
        (histogram, "_upper_bounds"): [0.1, 1.0, float("inf")],
    }
    for (instrument, attribute), value in expected.items():
        actual = getattr(instrument, attribute, MISSING)
        assert actual == value, changed(
            f"{type(instrument).__name__}.{attribute}", users, f"now {actual!r}, was {value!r}"
        )


# One worker's files, written by prometheus_client's own multi-process values.
WRITER = """
import os
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
registry = CollectorRegistry()
Counter("guard_requests", "Requests.", ["route"], registry=registry).labels("/a/").inc(3)
Histogram("guard_seconds", "Seconds.", buckets=(0.1, 1.0), registry=registry).observe(0.5)
Gauge("guard_in_flight", "In flight.", multiprocess_mode="livesum", registry=registry).set(2)
print(os.getpid())
"""


@pytest.fixture
def worker_files(tmp_path) -> tuple[Path, int]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    written = subprocess.run(
        [sys.executable, "-c", WRITER], env=env, capture_output=True, text=True, check=True
    )
    return tmp_path, int(written.stdout)


def test_worker_files_are_named_as_the_lab_expects(worker_files):
    directory, pid = worker_files
    users = "mysite/metrics/filenames.py (what the launcher may delete, compaction may merge)"
    names = sorted(os.listdir(directory))
    expected = sorted([f"counter_{pid}.db", f"histogram_{pid}.db", f"gauge_livesum_{pid}.db"])
    assert names == expected, changed("file names (values.MultiProcessValue)", users, names)
    pids = {
        name: (match := filenames.WORKER_FILE.fullmatch(name)) and int(match["pid"])
        for name in names
    }
    assert pids == dict.fromkeys(names, pid), changed(
        "file names (values.MultiProcessValue)", users, f"pids read from them: {pids}"
    )
    assert filenames.LIVE_GAUGE_FILE.fullmatch(f"gauge_livesum_{pid}.db")
    assert filenames.SUMMED_FILE.fullmatch(f"counter_{pid}.db")


def test_file_records_have_the_layout_the_collector_parses(worker_files):
    directory, pid = worker_files
    users = "mysite/metrics/collector.py (read_values) and compaction.py (merges by key)"
    records = list(MmapedDict.read_all_values_from_file(str(directory / f"counter_{pid}.db")))
    assert [len(record) for record in records] == [4], changed(
        "MmapedDict.read_all_values_from_file", users, "records are not (key, value, ts, pos)"
    )
    key, value, _timestamp, _position = records[0]
    assert json.loads(key) == [
        "guard_requests",
        "guard_requests_total",
        {"route": "/a/"},
        "Requests.",
    ], changed("mmap_dict.mmap_key", users, key)
    assert value == 3.0, changed("MmapedDict values", users, f"read {value!r}, wrote 3.0")
    assert read_values(directory / f"counter_{pid}.db") == [(key, 3.0, _timestamp)]


def test_the_collector_merges_worker_files_and_an_archive(worker_files):
    """What a scrape does: the worker's files plus a compaction archive written with
    ``MmapedDict``, typed by its file name (``counter_archive.db``), summed with the counter."""
    directory, pid = worker_files
    users = "mysite/metrics/collector.py and compaction.py (a scrape of workers and archives)"
    (key, _, timestamp), *_ = read_values(directory / f"counter_{pid}.db")
    archive = MmapedDict(str(directory / filenames.archive_name("counter")))
    try:
        archive.write_value(key, 4.0, timestamp)
    finally:
        archive.close()
    registry = CollectorRegistry()
    collector = LockedMultiProcessCollector(registry, directory)
    sample = registry.get_sample_value
    found = {
        "counter": sample("guard_requests_total", {"route": "/a/"}),
        "bucket 0.1": sample("guard_seconds_bucket", {"le": "0.1"}),
        "bucket 1.0": sample("guard_seconds_bucket", {"le": "1.0"}),
        "count": sample("guard_seconds_count"),
        "sum": sample("guard_seconds_sum"),
        "live gauge": sample("guard_in_flight"),
    }
    expected = {
        "counter": 7.0,
        "bucket 0.1": 0.0,
        "bucket 1.0": 1.0,
        "count": 1.0,
        "sum": 0.5,
        "live gauge": 2.0,
    }
    assert found == expected, changed(
        "MultiProcessCollector._read_metrics / _accumulate_metrics", users, f"merged {found}"
    )
    assert collector.unreadable == []


def test_pyproject_bounds_prometheus_client_below_the_minor_after_the_locked_one():
    """The upper bound stays, at most one minor above the release uv.lock holds (the one these
    checks were last read against), and the installed release is inside it."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (requirement,) = (
        Requirement(d) for d in dependencies if Requirement(d).name == "prometheus-client"
    )
    packages = tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    (locked,) = (Version(p["version"]) for p in packages if p["name"] == "prometheus-client")
    assert requirement.specifier.contains(Version(VERSION)), (str(requirement), VERSION)
    uppers = [Version(s.version) for s in requirement.specifier if s.operator == "<"]
    assert uppers, f"{requirement}: no upper bound, yet the lab uses private API"
    assert min(uppers) <= Version(f"{locked.major}.{locked.minor + 1}"), (str(requirement), locked)
