"""The Locust exporter: its histogram, its collector, and that it stays inert outside Locust.

These tests never import Locust into the test process (it would monkey-patch it with gevent);
the live ones run Locust as a subprocess, locally and distributed.
"""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from dashboards import locust_exporter as lx
from loadtests.wait import wait_until
from mysite.launcher import LOOPBACK, free_port

from .conftest import ROOT, locust_argv


def entry(name, requests, failures, response_times, total_ms, method="GET"):
    return SimpleNamespace(
        name=name,
        method=method,
        num_requests=requests,
        num_failures=failures,
        response_times=response_times,
        total_response_time=total_ms,
    )


def scrape(runner) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(lx.LocustCollector(runner))
    return registry


def test_histogram_buckets_are_cumulative_with_inf_last():
    buckets = lx.histogram_buckets([(1, 2), (10, 1), (990, 3), (70000, 1)], (0.001, 0.01, 1.0))
    assert buckets == [("0.001", 2), ("0.01", 3), ("1.0", 6), ("+Inf", 7)]


def test_a_response_time_on_a_bound_falls_in_that_bucket():
    assert lx.histogram_buckets([(1000, 1)], (0.999, 1.0)) == [
        ("0.999", 0),
        ("1.0", 1),
        ("+Inf", 1),
    ]


def test_collector_exports_counts_failures_histogram_and_users():
    stats = SimpleNamespace(
        entries={
            ("/a/", "GET"): entry("/a/", 5, 1, {10: 3, 200: 2}, 430),
            ("/b/", "POST"): entry("/b/", 0, 0, {}, 0, method="POST"),
        }
    )
    registry = scrape(SimpleNamespace(stats=stats, user_count=7))
    value = registry.get_sample_value
    a = {lx.NAME: "/a/", lx.METHOD: "GET"}
    assert value(lx.REQUESTS, a) == 5
    assert value(lx.FAILURES, a) == 1
    assert value(lx.RESPONSE_TIME + "_bucket", {**a, "le": "0.01"}) == 3
    assert value(lx.RESPONSE_TIME + "_bucket", {**a, "le": "0.25"}) == 5
    assert value(lx.RESPONSE_TIME + "_count", a) == 5
    assert value(lx.RESPONSE_TIME + "_sum", a) == pytest.approx(0.43)
    assert value(lx.REQUESTS, {lx.NAME: "/b/", lx.METHOD: "POST"}) == 0
    assert value(lx.USERS) == 7
    text = generate_latest(registry).decode()
    assert f"# TYPE {lx.RESPONSE_TIME} histogram" in text


def test_importing_it_outside_locust_has_no_effect():
    code = (
        "import sys; import dashboards.locust_exporter as lx; "
        "assert 'locust' not in sys.modules and 'gevent' not in sys.modules, sorted(sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_it_serves_nothing_without_a_command_line_or_a_port():
    # Locust as a library has no parsed options; port 0 turns the exporter off. Neither
    # reaches the point where Locust or gevent would be imported.
    assert lx.start(SimpleNamespace(parsed_options=None)) is None
    off = SimpleNamespace(exporter_port=0, exporter_host=LOOPBACK)
    assert lx.start(SimpleNamespace(parsed_options=off)) is None


def test_register_adds_the_options_and_the_server():
    hooks = SimpleNamespace(
        init_command_line_parser=SimpleNamespace(add_listener=lambda f: calls.append(f)),
        init=SimpleNamespace(add_listener=lambda f: calls.append(f)),
    )
    calls: list = []
    lx.register(hooks)
    assert calls == [lx.add_arguments, lx.start]


def _metrics(port: int) -> str | None:
    try:
        return httpx.get(f"http://{LOOPBACK}:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None


@pytest.mark.live
@pytest.mark.slow
def test_distributed_mode_serves_on_the_master_only(upstream, tmp_path):
    """Master and worker both load the exporter; only the master, holding the merged stats,
    serves them. The worker is given its own port, which must stay closed.

    The load needs only a server that answers: the session's upstream (every path of the
    dashboards' load is a 404 there, a request Locust counts all the same), not the live stack,
    whose Prometheus, PostgreSQL and 15 s run this test never reads."""
    master_port, worker_port, bind_port = free_port(), free_port(), free_port()
    common = ["--host", upstream.url, "--only-summary", "--exit-code-on-error", "0"]
    master_log, worker_log = (
        (tmp_path / "master.log").open("w"),
        (tmp_path / "worker.log").open("w"),
    )
    master = subprocess.Popen(
        locust_argv(
            "--master",
            "--master-bind-host",
            LOOPBACK,
            "--master-bind-port",
            str(bind_port),
            "--expect-workers",
            "1",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "5s",
            "--exporter-port",
            str(master_port),
            *common,
        ),
        cwd=ROOT,
        stdout=master_log,
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        locust_argv(
            "--worker",
            "--master-host",
            LOOPBACK,
            "--master-port",
            str(bind_port),
            "--exporter-port",
            str(worker_port),
            *common,
        ),
        cwd=ROOT,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    try:

        def counted() -> float:
            text = _metrics(master_port) or ""
            return sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith(lx.REQUESTS + "{")
            )

        seen = wait_until(counted, 30, 0.2, stop=lambda: master.poll() is not None)
        assert seen, (tmp_path / "master.log").read_text()[-2000:]
        assert f"{lx.USERS} 4.0" in (_metrics(master_port) or "")
        assert _metrics(worker_port) is None
        assert master.wait(timeout=60) == 0, (tmp_path / "master.log").read_text()[-2000:]
        worker.wait(timeout=30)
    finally:
        for process in (worker, master):
            if process.poll() is None:
                process.kill()
                process.wait()
        master_log.close()
        worker_log.close()
