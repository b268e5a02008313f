"""Compaction and scrapes facing damaged files, foreign journals and float rounding.

Each test plants the files a real fault leaves (a worker killed before it sized its file, a
damaged file, a journal naming a path outside the directory) and shows that nothing is lost,
nothing foreign is deleted, and ``/metrics``'s own code path still answers.
"""

import json
import logging
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from mysite.launcher import serve
from mysite.metrics import liveness, multiprocess, names
from mysite.metrics.collector import MERGEABLE_LIMIT
from mysite.metrics.filenames import JOURNAL_NAME, QUARANTINED_FILE

from .helpers import parse_exposition, total
from .metricfiles import (
    collect,
    impossible_pid,
    is_alive,
    write_counter_file,
    write_process_files,
)

SUM_KEY = mmap_key("latency_seconds", "latency_seconds_sum", ["http_route"], ["/r"], "Latency.")


def scrape_text(path: Path, monkeypatch) -> str:
    """What ``/metrics`` answers: the app's own scrape path over ``path``."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    return generate_latest(multiprocess.scrape_registry()).decode()


def sample(text: str, name: str) -> float:
    """The sum of ``name``'s samples in an exposition."""
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + " ", name + "{"))
    ]
    assert values, f"{name} not in the exposition"
    return sum(values)


def damaged_files(path: Path) -> dict[str, bytes | None]:
    """Dead workers' files as faults leave them (None: a directory where a file should be,
    which no process, root included, can read as one)."""
    valid = path / "valid"
    valid.mkdir()
    write_process_files(valid, 1, seed=1)
    body = (valid / "counter_1.db").read_bytes()
    return {
        f"counter_{impossible_pid(900)}.db": b"",  # killed between creating and sizing it
        f"counter_{impossible_pid(901)}.db": b"\xff\xff\x00\x00" + body[4:],  # its length
        f"histogram_{impossible_pid(902)}.db": body[:8] + b"\x40\x00\x00\x00" + b"\xff" * 64,
        f"counter_{impossible_pid(903)}.db": None,
    }


def plant(path: Path, files: dict[str, bytes | None]) -> None:
    for name, content in files.items():
        if content is None:
            (path / name).mkdir()
        else:
            (path / name).write_bytes(content)


def test_damaged_dead_files_are_set_aside_and_the_others_merged(tmp_path, monkeypatch, figure):
    directory = tmp_path / "metrics"
    directory.mkdir()
    for n in range(30):
        write_process_files(directory, impossible_pid(n), seed=n)
    expected = collect(directory)
    bad = damaged_files(tmp_path)
    plant(directory, bad)

    text = scrape_text(directory, monkeypatch)  # compacts, then reads: no exception, no 500

    assert collect(directory) == expected
    aside = [name for name in os.listdir(directory) if QUARANTINED_FILE.fullmatch(name)]
    assert sorted(name.rpartition(".quarantined-")[0] for name in aside) == sorted(bad)
    assert sample(text, names.FILES_QUARANTINED) == len(bad)
    assert sample(text, "jobs_total") == sum(
        v for (n, _), v in expected.items() if n == "jobs_total"
    )
    figure("damaged dead files set aside / good files merged", f"{len(aside)} / 60", "4 / 60")
    # Nothing is left claimed (hidden from scrapes), and the next scrape is as exact.
    assert not [name for name in os.listdir(directory) if ".merging-" in name]
    scrape_text(directory, monkeypatch)
    assert collect(directory) == expected


def test_a_scrape_racing_a_workers_first_file_does_not_fail(tmp_path, monkeypatch):
    """A live worker's file that exists but is not sized yet (0 bytes) or cut short."""
    write_process_files(tmp_path, impossible_pid(1), seed=1)
    expected = collect(tmp_path)
    (tmp_path / f"histogram_{os.getpid()}.db").write_bytes(b"")
    (tmp_path / f"counter_{os.getpid()}.db").write_bytes(b"\x40\x00\x00\x00\x00\x00\x00\x00")

    text = scrape_text(tmp_path, monkeypatch)

    assert sample(text, names.FILES_UNREADABLE) == 2
    assert sample(text, names.FILES_QUARANTINED) == 0  # alive: its files are left alone
    assert (tmp_path / f"histogram_{os.getpid()}.db").exists()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    os.unlink(tmp_path / f"histogram_{os.getpid()}.db")
    os.unlink(tmp_path / f"counter_{os.getpid()}.db")
    assert collect(tmp_path) == expected


@pytest.mark.parametrize(
    "entry",
    [
        {"staged": {}, "claimed": ["../outside/victim.txt"]},
        {"staged": {"../outside/victim.txt": "counter_archive.db"}, "claimed": []},
        {"staged": {"counter_archive.db.tmp": "../outside/victim.txt"}, "claimed": []},
        {"staged": {}, "claimed": ["/work/nothing/victim.txt", "app.db"]},
        "not a record",
    ],
)
def test_a_journal_naming_foreign_files_deletes_nothing(tmp_path, monkeypatch, entry):
    directory, outside = tmp_path / "metrics", tmp_path / "outside"
    directory.mkdir()
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("precious")
    (directory / "app.db").write_text("someone's database")
    write_process_files(directory, impossible_pid(1), seed=1)
    expected = collect(directory)
    (directory / JOURNAL_NAME).write_text(json.dumps(entry))

    scrape_text(directory, monkeypatch)

    assert victim.read_text() == "precious"
    assert (directory / "app.db").read_text() == "someone's database"
    assert not (directory / JOURNAL_NAME).exists()  # set aside, unread
    assert collect(directory) == expected  # and the dead worker was merged as usual


def histogram_file(path: Path, pid: int, total: float) -> None:
    mmaped = MmapedDict(str(path / f"histogram_{pid}.db"))
    mmaped.write_value(SUM_KEY, total, 0.0)
    mmaped.close()


def test_a_histogram_sum_never_goes_down_across_compactions(tmp_path, monkeypatch, figure):
    """Many dead workers' sums merged while two live ones keep theirs: the rounding of the
    merge must not show as a decrease (Prometheus would read a counter reset)."""
    rng = random.Random(14)
    live = [os.getpid(), os.getppid()]
    directory = tmp_path / "metrics"
    directory.mkdir()
    for pid in live:
        histogram_file(directory, pid, rng.uniform(0, 1e3))
    decreases, compactions, pid = [], 0, 0
    previous = sample(scrape_text(directory, monkeypatch), "latency_seconds_sum")
    for _ in range(40):
        for _ in range(rng.randint(1, 5)):
            histogram_file(directory, impossible_pid(pid), rng.uniform(0, 1e3) / 7)
            pid += 1
        before = sample(scrape_text(directory, monkeypatch), "latency_seconds_sum")
        decreases += [(previous, before)] if before < previous else []
        compactions += 1
        previous = before
    figure("scrapes across compactions / _sum decreases", f"{compactions} / {len(decreases)}")
    assert decreases == []
    assert [n for n in os.listdir(directory) if n.startswith("histogram_archive")], "merged"


def test_the_sum_does_not_drop_by_an_ulp_whatever_order_files_are_read(tmp_path, monkeypatch):
    """The decrease the review found: before, a scrape added the files in directory order
    (here the live worker's first: e + e + 1 = 1 + 2e) and the compaction in name order
    (1 + e = 1, then + e = 1): 1 ULP lower. Now both are exact, whatever the order."""
    from prometheus_client import multiprocess as prometheus_multiprocess

    epsilon = 2.0**-53
    workers = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in "ab"
    ]
    try:
        histogram_file(tmp_path, workers[0].pid, 1.0)
        histogram_file(tmp_path, workers[1].pid, epsilon)
        histogram_file(tmp_path, os.getpid(), epsilon)
        real_glob = prometheus_multiprocess.glob.glob
        # The directory order that showed it: the live worker's file first, the 1.0 last.
        order = [os.getpid(), workers[1].pid, workers[0].pid, 0]
        monkeypatch.setattr(
            prometheus_multiprocess.glob,
            "glob",
            lambda pattern: sorted(real_glob(pattern), key=lambda f: order.index(pid_of(f))),
        )
        before = scrape_text(tmp_path, monkeypatch)  # all alive: nothing merged
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    after = scrape_text(tmp_path, monkeypatch)  # both dead: merged into the archive
    assert not [n for n in os.listdir(tmp_path) if n == f"histogram_{workers[0].pid}.db"]
    assert sample(after, "latency_seconds_sum") >= sample(before, "latency_seconds_sum")


def pid_of(file: str) -> int:
    """The pid in a worker file's name; 0 for the archives."""
    tail = Path(file).stem.rpartition("_")[2]
    return int(tail) if tail.isdigit() else 0


def test_exact_sum_is_kept_across_layers(tmp_path, monkeypatch):
    """1 + 2**-53 + 2**-53: added in order it is 1; the archive keeps what was rounded off."""
    directory = tmp_path
    histogram_file(directory, impossible_pid(1), 1.0)
    histogram_file(directory, impossible_pid(2), 2.0**-53)
    histogram_file(directory, os.getpid(), 2.0**-53)
    text = scrape_text(directory, monkeypatch)
    assert sample(text, "latency_seconds_sum") == 1.0 + 2.0**-52
    assert "histogram_archive.carry-1.db" in os.listdir(directory)
    assert not [n for n in os.listdir(directory) if n == f"histogram_{impossible_pid(1)}.db"]


def test_liveness_without_proc_keeps_live_workers(tmp_path, monkeypatch):
    """Without /proc (macOS, sandboxes) a live worker is no longer judged dead: its files stay
    its own, and only a pid that no process has is merged."""
    monkeypatch.setattr(liveness, "PROC", tmp_path / "no-proc")
    directory = tmp_path / "metrics"
    directory.mkdir()
    write_process_files(directory, os.getpid(), seed=1)
    write_process_files(directory, impossible_pid(1), seed=2)
    expected = collect(directory)

    scrape_text(directory, monkeypatch)

    assert collect(directory) == expected
    assert sorted(n for n in os.listdir(directory) if n.endswith(".db")) == sorted(
        [
            "counter_archive.db",
            "histogram_archive.db",
            f"counter_{os.getpid()}.db",
            f"histogram_{os.getpid()}.db",
        ]
    )
    assert multiprocess.is_alive(os.getpid())
    assert not multiprocess.is_alive(impossible_pid(1))


def test_is_alive_matches_the_simple_check_on_this_machine():
    assert is_alive(os.getpid())
    assert multiprocess.is_alive(os.getpid())


REAL_WORKER = (
    "import sys, time\n"
    "from prometheus_client import Counter\n"
    "Counter('jobs', 'Jobs.', ['kind']).labels(kind='live').inc(2)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_a_reused_pid_frees_the_dead_workers_files_but_not_a_writers(tmp_path, monkeypatch):
    """A dead worker's pid given to a later process: that process started after the files were
    last changed and has none of them mapped, so it did not write them; the dead worker's live
    gauge goes and its counts are merged. A process that does have its file mapped (a new
    worker that reused the pid, continuing the file) stays alive. Start times are made to say
    "started after the files" (reuse cannot be arranged on demand); the maps are real."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    writer = subprocess.Popen(
        [sys.executable, "-c", REAL_WORKER], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        write_process_files(directory, sleeper.pid, seed=3)  # as the dead worker left them
        gauge = MmapedDict(str(directory / f"gauge_livesum_{sleeper.pid}.db"))
        gauge.write_value(mmap_key("in_flight", "in_flight", [], [], "In flight."), 3.0, 0.0)
        gauge.close()
        expected = collect(directory)
        later = time.time() + 60
        monkeypatch.setattr(liveness, "start_time", lambda pid: later)

        text = scrape_text(directory, monkeypatch)

        left = sorted(n for n in os.listdir(directory) if n.endswith(".db"))
        assert left == sorted(
            ["counter_archive.db", "histogram_archive.db", f"counter_{writer.pid}.db"]
        )
        assert "in_flight" not in text  # the dead worker's gauge is gone
        counters = {k: v for k, v in expected.items() if not k[0].startswith("in_flight")}
        assert collect(directory) == counters
    finally:
        for process in (sleeper, writer):
            process.kill()
            process.wait()
        writer.stdout.close()


# --- values that cannot be merged ----------------------------------------------------------------

# Dead workers' counter files holding values no sum can take, by case: the review's (two files
# of 1e308, whose sum overflows a float), infinities and NaN.
UNMERGEABLE = {
    "1e308-twice": [{"a": 1e308}, {"a": 1e308}],
    "inf": [{"a": math.inf}],
    "minus-inf": [{"b": -math.inf}],
    "nan": [{"a": math.nan}],
    "huge-next-to-normal": [{"a": 1.0, "b": -1e308}],
}


def aside_names(directory: Path) -> list[str]:
    """The original names of the files set aside."""
    return sorted(
        name.rpartition(".quarantined-")[0]
        for name in os.listdir(directory)
        if QUARANTINED_FILE.fullmatch(name)
    )


def exposed(text: str, expected: dict) -> dict:
    """The exposition's values of the samples ``expected`` names."""
    samples = parse_exposition(text)
    return {key: samples.get(key) for key in expected}


@pytest.mark.parametrize("bad", list(UNMERGEABLE.values()), ids=list(UNMERGEABLE))
def test_values_that_cannot_be_merged_set_their_file_aside(
    tmp_path, monkeypatch, caplog, figure, bad
):
    """Before: OverflowError on every scrape (1e308 twice), the files claimed and hidden, so
    the good counters vanished too; inf and NaN were summed into the totals by the collector."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    for n in range(10):
        write_process_files(directory, impossible_pid(n), seed=n)
    write_counter_file(directory, impossible_pid(50), {"a": 5.0})  # the review's counter of 5
    expected = collect(directory)
    planted = [
        write_counter_file(directory, impossible_pid(100 + i), jobs) for i, jobs in enumerate(bad)
    ]

    with caplog.at_level(logging.ERROR, logger="mysite.metrics"):
        texts = [scrape_text(directory, monkeypatch) for _ in range(3)]  # every scrape answers

    for text in texts:
        assert exposed(text, expected) == expected  # the good counters, exact
        assert sample(text, names.FILES_QUARANTINED) == len(planted)
    assert aside_names(directory) == sorted(planted)
    assert not [name for name in os.listdir(directory) if ".merging-" in name]
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert all(name in logged and "cannot be merged" in logged for name in planted)
    figure("files set aside / good counters exact", f"{len(aside_names(directory))} / yes")


def test_a_total_beyond_the_limit_sets_aside_the_file_that_would_pass_it(
    tmp_path, monkeypatch, caplog
):
    """Each file's value is in range, their sum is not: the first merged, the second set aside.
    A live worker's value next to the archive is still summed: below the limit, the sum of
    files cannot overflow."""
    big = MERGEABLE_LIMIT * 0.75
    write_process_files(tmp_path, impossible_pid(0), seed=0)
    write_counter_file(tmp_path, impossible_pid(1), {"big": big})
    expected = {**collect(tmp_path)}
    second = write_counter_file(tmp_path, impossible_pid(2), {"big": big})

    with caplog.at_level(logging.ERROR, logger="mysite.metrics"):
        text = scrape_text(tmp_path, monkeypatch)

    assert exposed(text, expected) == expected
    assert aside_names(tmp_path) == [second]
    assert "would take a total beyond" in caplog.text
    write_counter_file(tmp_path, os.getpid(), {"big": big})  # alive: read, not merged
    text = scrape_text(tmp_path, monkeypatch)
    assert parse_exposition(text)[("jobs_total", (("kind", "big"),))] == 2 * big
    assert sample(text, names.FILES_UNREADABLE) == 0


def test_a_live_workers_unmergeable_file_is_skipped_every_scrape_and_left_alone(
    tmp_path, monkeypatch, caplog
):
    """The collector's own guard: live files are never moved, so one holding values that
    cannot be summed is skipped, counted and logged by each scrape; the collector never raises."""
    write_process_files(tmp_path, impossible_pid(1), seed=1)
    expected = collect(tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = [
            write_counter_file(tmp_path, os.getpid(), {"a": 1e308}),
            write_counter_file(tmp_path, sleeper.pid, {"a": 1e308}),
            f"histogram_{os.getpid()}.db",
        ]
        mmaped = MmapedDict(str(tmp_path / live[2]))
        mmaped.write_value(SUM_KEY, math.nan, 0.0)
        mmaped.close()

        with caplog.at_level(logging.WARNING, logger="mysite.metrics"):
            texts = [scrape_text(tmp_path, monkeypatch) for _ in range(2)]
            direct = collect(tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    for text in texts:
        assert sample(text, names.FILES_UNREADABLE) == len(live)
        assert sample(text, names.FILES_QUARANTINED) == 0
        assert exposed(text, expected) == expected
    assert direct == expected
    assert all((tmp_path / name).exists() for name in live)
    assert all(f"skipping metric file {name}" in caplog.text for name in live)


@pytest.mark.live
def test_a_real_servers_metrics_survive_huge_values_in_dead_files(figure):
    """The review's case against a running server: two dead workers' files of 1e308 and a
    counter of 5 planted in its metrics directory; ``/metrics`` answers every time, with the
    server's own counts and the 5 exact, and the server logs each file it set aside."""
    requests = 20
    with serve("uvicorn", workers=2) as server, httpx.Client(timeout=30) as client:
        for _ in range(requests):
            client.get(server.url + "/async/api/", params={"delay": 0}).raise_for_status()
        directory = server.extra["metrics_dir"]
        huge = [write_counter_file(directory, impossible_pid(i), {"a": 1e308}) for i in (1, 2)]
        write_counter_file(directory, impossible_pid(3), {"a": 5.0})
        responses = [client.get(server.url + "/metrics") for _ in range(4)]
        log = server.log_tail(400)
    statuses = [response.status_code for response in responses]
    samples = parse_exposition(responses[-1].text)
    counted = total(samples, names.SERVER_DURATION + "_count", http_route="/async/api/")
    figure("/metrics statuses with two 1e308 files planted", statuses, "all 200")
    figure(
        "route count / planted counter after",
        f"{counted:g} of {requests} / {total(samples, 'jobs_total'):g} of 5",
    )
    assert statuses == [200] * len(responses)
    assert counted == requests
    assert samples[("jobs_total", (("kind", "a"),))] == 5.0
    assert total(samples, names.FILES_QUARANTINED) == len(huge)
    assert all(name in log for name in huge)
