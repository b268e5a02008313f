"""The open model on a live server, as a person runs it: ``locust ... --arrival-rate R``.

The server is pinned to one CPU and Locust to the other, as the sweep does. The tests that judge
latencies or a generator's pace against the model run quiet; those that check what is written
and counted run beside the other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from loadtests.plugins.search import default_slo_ms
from loadtests.sweep.generator import LOCUSTFILE
from loadtests.sweep.sampler import pin_tree
from mysite.launcher import free_port, serve
from tests.loadtests.conftest import ROOT

pytestmark = [pytest.mark.live, pytest.mark.slow]

ENV = {**os.environ, "LOCUST_EXPORTER_PORT": "0"}
THREADS, DELAY = 4, 0.1
CEILING = THREADS / DELAY  # the gthread worker's slots / service time: 40 requests/s
CPUS = sorted(os.sched_getaffinity(0))
GENERATOR_CPU = {CPUS[0]}
SERVER_CPUS = set(CPUS[1:]) or GENERATOR_CPU


@pytest.fixture(scope="module")
def gthread():
    with serve("gunicorn-gthread", 1, threads=THREADS) as running:
        pin_tree(running.pid, SERVER_CPUS)
        yield running


def locust(
    app, out, seconds: float, *args: str, role: tuple[str, ...] = (), delay: float = DELAY
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--host",
        app.url,
        "-t",
        f"{seconds:g}s",
        "--delay",
        f"{delay:g}",
        "--arrival-out",
        str(out),
        *role,
        *args,
        "SyncApiUser",
    ]


def pin_generator() -> None:
    os.sched_setaffinity(0, GENERATOR_CPU)


def run_locust(app, tmp_path, name: str, seconds: float, *args: str, delay: float = DELAY) -> dict:
    out = tmp_path / f"{name}.json"
    done = subprocess.run(
        locust(app, out, seconds, *args, delay=delay),
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
        preexec_fn=pin_generator,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


def run_open(app, tmp_path, name: str, seconds: float, *args: str) -> dict:
    return run_locust(app, tmp_path, name, seconds, *args)["steps"][0]


@pytest.mark.quiet
def test_well_under_capacity_the_server_keeps_up_and_latency_is_the_service_time(gthread, tmp_path):
    rate = CEILING / 4
    step = run_open(gthread, tmp_path, "low", 5, "--arrival-rate", f"{rate:g}")
    assert isinstance(step["seed"], int)
    assert step["target_rps"] == rate
    assert step["offered_rps"] == pytest.approx(step["scheduled"] / step["duration_s"], rel=0.01)
    assert 0 < step["generator_cpu_share"] <= 1
    assert step["errors"] == 0
    assert step["dropped"] == 0
    # Kept up with what was offered: the realised rate (50 Poisson arrivals vary by ~15%).
    assert step["achieved_rps"] == pytest.approx(step["offered_rps"], rel=0.25)
    assert step["scheduled"] == pytest.approx(rate * 5, rel=0.5)
    service_ms = DELAY * 1000
    assert service_ms <= step["latency_ms"]["p50"] < service_ms + 50
    assert service_ms <= step["latency_ms"]["p99"] < service_ms + 150


@pytest.mark.quiet
def test_over_capacity_the_queue_shows_from_the_intended_start_not_from_the_send(gthread, tmp_path):
    """1.5 x the slot ceiling: the backlog grows with time, so a longer step has a higher
    intended-start p99; requests wait for one of the client's connections, so the latency from
    the actual send stays bounded by those connections / the ceiling."""
    args = (
        "--arrival-rate",
        f"{1.5 * CEILING:g}",
        "--arrival-process",
        "constant",
        "--connections",
        str(4 * THREADS),
    )
    short = run_open(gthread, tmp_path, "short", 2, *args)
    long = run_open(gthread, tmp_path, "long", 6, *args)
    assert long["latency_ms"]["p99"] > 1.8 * short["latency_ms"]["p99"]
    assert long["latency_ms"]["p99"] > 1000.0  # ~(0.5 x 40/s x 6 s) / 40/s = 1.5 s behind
    bound_ms = 4 * THREADS / CEILING * 1000 * 1.5 + 100
    assert long["send_latency_ms"]["p99"] < bound_ms
    assert long["send_latency_ms"]["p99"] < 1.5 * short["send_latency_ms"]["p99"] + 100
    assert long["late"] > long["scheduled"] / 4  # many started late; none skipped silently
    assert long["sent"] + long["dropped"] == long["scheduled"]
    assert long["achieved_rps"] == pytest.approx(CEILING, rel=0.25)


@pytest.mark.quiet
def test_arrivals_beyond_the_bound_in_flight_are_dropped_and_counted_as_errors(gthread, tmp_path):
    """Twice the ceiling with at most 2 requests in flight: most arrivals find the bound
    reached; each is dropped (never sent), counted among the errors, and nothing is lost."""
    args = ("--arrival-rate", f"{2 * CEILING:g}", "--max-in-flight", "2")
    step = run_open(gthread, tmp_path, "bounded", 2, *args, "--exit-code-on-error", "0")
    assert step["dropped"] > step["scheduled"] / 4
    assert step["sent"] + step["dropped"] == step["scheduled"]
    assert step["errors"] >= step["dropped"]
    assert step["achieved_rps"] <= 2 / DELAY * 1.5  # two at a time, one service time each


def test_a_capacity_search_writes_each_steps_seed_realised_rate_and_verdict(gthread, tmp_path):
    """A short search (a calibration and two steps) on the 20 ms view: the seam the sweep reads."""
    delay = 0.02
    ceiling = THREADS / delay
    result = run_locust(
        gthread,
        tmp_path,
        "search",
        90,
        "--arrival-rate",
        "50",
        "--capacity-ceiling",
        f"{ceiling:g}",
        "--capacity-slo-ms",
        f"{default_slo_ms(delay):g}",
        "--capacity-max-steps",
        "2",
        "--capacity-calibrate",
        "1",
        "--arrival-seed",
        "20261206",
        delay=delay,
    )
    steps, search = result["steps"], result["search"]
    assert steps[0]["verdict"] == "calibration", search
    assert search["steps"] == len(steps) >= 2  # fewer than 3 only when it had to stop
    assert len(steps) == 3 or search["lower_bound"], search
    assert len({s["seed"] for s in steps}) == len(steps)
    assert search["lambda_star_rps"] == search["bracket"][0]
    assert isinstance(search["lower_bound"], bool)
    assert search["stopped_because"]
    for step in steps[1:]:
        assert step["offered_rps"] == pytest.approx(step["target_rps"], rel=0.25)
        assert step["duration_s"] > step["warmup_s"] > 0
        assert 0 <= step["over_slo"] <= step["scheduled"]
        assert "warm-up" in step["judgement"]
        assert isinstance(step["stationary"], bool)
        assert isinstance(step["generator_limited"], bool)
        assert len(step["p99_ci95"]) == 2
        assert 0 < step["generator_cpu_share"] <= 1
        assert step["verdict"] in {
            "held",
            "p99 over the SLO",
            "not stationary",
            "errors",
            "generator lag",
        }


@pytest.mark.quiet
def test_two_locust_workers_split_the_rate_and_their_histograms_merge(gthread, tmp_path):
    port, out, rate, seconds = free_port(), tmp_path / "dist.json", 20.0, 4
    worker = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--worker",
        "--master-port",
        str(port),
    ]
    master = locust(
        gthread,
        out,
        seconds,
        "--arrival-rate",
        f"{rate:g}",
        role=(
            "--master",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            "2",
            "--expect-workers-max-wait",
            "30",
        ),
    )
    workers = [
        subprocess.Popen(
            worker,
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    try:
        done = subprocess.run(
            master, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=90, check=False
        )
    finally:
        for process in workers:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    step = result["steps"][0]
    assert result["workers"] == 2
    assert step["errors"] == 0
    assert step["completed"] == step["sent"] == step["scheduled"]
    assert step["scheduled"] == pytest.approx(rate * seconds, rel=0.35)
    assert DELAY * 1000 <= step["latency_ms"]["p50"] < DELAY * 1000 + 50


def test_the_web_ui_runs_the_open_model_and_starts_it_again(gthread):
    """Start from the web UI, stop, start again: each start paces; Locust's stats count it."""
    import urllib.parse
    import urllib.request

    from loadtests.wait import wait_until
    from mysite.launcher import LOOPBACK

    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--host",
        gthread.url,
        "--web-host",
        LOOPBACK,
        "--web-port",
        str(port),
        "--arrival-rate",
        "20",
        "--delay",
        f"{DELAY:g}",
        "SyncApiUser",
    ]
    ui = f"http://{LOOPBACK}:{port}"
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def get(path: str) -> dict | None:
        try:
            with urllib.request.urlopen(f"{ui}{path}", timeout=2) as response:
                return json.load(response)
        except (OSError, ValueError):
            return None

    def requests_so_far() -> int:
        stats = get("/stats/requests") or {}
        return sum(e["num_requests"] for e in stats.get("stats", []) if e["name"] == "/sync/api/")

    try:
        assert wait_until(lambda: get("/stats/requests"), 30)
        form = urllib.parse.urlencode({"user_count": 1, "spawn_rate": 1, "host": gthread.url})
        for _ in range(2):
            before = requests_so_far()
            urllib.request.urlopen(f"{ui}/swarm", data=form.encode(), timeout=5).close()
            assert wait_until(lambda b=before: requests_so_far() >= b + 30, 20)
            entry = next(e for e in get("/stats/requests")["stats"] if e["name"] == "/sync/api/")
            assert entry["min_response_time"] >= DELAY * 1000 * 0.95  # from the intended start
            urllib.request.urlopen(f"{ui}/stop", data=b"", timeout=5).close()
            assert wait_until(lambda: (get("/stats/requests") or {}).get("state") == "stopped", 45)
    finally:
        process.terminate()
        process.wait(timeout=30)
