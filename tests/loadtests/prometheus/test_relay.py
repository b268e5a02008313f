"""The sweep's scrape relay: fixed addresses for targets that move (``loadtests.prometheus.relay``).

Every sample gets the cell's own ``job`` and no timestamp of the relay's; a slow target never
holds a scrape past its timeout; and, with a real Prometheus scraping it, a cell's lines end
when the relay moves on or its target goes (issue 15, item 4): Prometheus marks a series stale
when a scrape no longer has it, but not a series whose samples carry their own timestamps
(Prometheus's querying docs: "Staleness will not be marked for time series that have timestamps
included in their scrapes"; only the 5-minute lookback ends those).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dashboards.prometheus_server import APP_JOB, ScrapeTarget, run_prometheus
from dashboards.query import PrometheusClient
from loadtests.prometheus import relay as relays
from loadtests.prometheus.relay import ScrapeRelay
from loadtests.wait import wait_until

EXPOSITION = """# HELP http_requests Requests.
# TYPE http_requests counter
http_requests_total{route="/a/",code="200"} 3.0
http_requests_created{route="/a/",code="200"} 1.7e+09
# TYPE up_since gauge
up_since 12.5
empty_labels{} 1
already{job="theirs",x="1"} 2
spaced{ a = "b" } 4 1700000000000
"""


def test_every_sample_gets_the_cells_job():
    text = relays.with_job(EXPOSITION, "django:uvicorn/2/async-api")
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    assert len(samples) == 6
    jobs = {s.name: s.labels["job"] for s in samples}
    assert jobs.pop("already") == "theirs", "a job the target sets is left alone"
    assert set(jobs.values()) == {"django:uvicorn/2/async-api"}
    assert "# HELP http_requests Requests." in text
    by_name = {s.name: s for s in samples}
    assert by_name["http_requests_total"].labels == {
        "job": "django:uvicorn/2/async-api",
        "route": "/a/",
        "code": "200",
    }
    assert by_name["up_since"].value == 12.5
    assert by_name["spaced"].timestamp == 1700000000


def test_a_job_with_quotes_stays_one_label():
    text = relays.with_job("m 1\n", 'a"b\\c')
    (sample,) = next(iter(text_string_to_metric_families(text))).samples
    assert sample.labels == {"job": 'a"b\\c'}


def test_samples_get_no_timestamp_of_the_relays():
    # Prometheus marks stale only the series whose samples carry no timestamp.
    text = relays.with_job('a 1\nb{x="}"} 2\nc 3 1700000000000\n', "j")
    samples = {s.name: s for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples["a"].timestamp is None
    assert samples["b"].labels == {"job": "j", "x": "}"}
    assert samples["b"].timestamp is None
    assert samples["c"].timestamp == 1700000000, "a timestamp the target gave is kept"


class Backend(BaseHTTPRequestHandler):
    """A target whose /metrics answers after ``delay`` seconds."""

    delay = 0.0

    def do_GET(self):
        time.sleep(self.delay)
        body = b"# TYPE hits gauge\nhits 7\n# HELP done Done.\n# TYPE done counter\ndone_total 3\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def backend():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    Backend.delay = 0.0


def scraped(answer: httpx.Response) -> list:
    return [s for f in text_string_to_metric_families(answer.text) for s in f.samples]


def relay_scrape(relay) -> httpx.Response:
    return httpx.get(f"http://{relay.address}/django/metrics", timeout=2)


def test_a_scrape_reads_the_target_then_and_never_waits_long_for_a_slow_one(backend):
    relay = relays.ScrapeRelay(("django",), interval=1.0, timeout=5)
    patience = relays.ANSWER_WITHIN * relay.interval
    try:
        assert relay_scrape(relay).status_code == 503, "no target yet: down"
        relay.point("django", f"http://127.0.0.1:{backend.server_address[1]}", "django:cell")
        asked = time.time()
        answer = relay_scrape(relay)
        assert answer.status_code == 200, "a quick target's copy comes with the scrape itself"
        assert relay.read_started_after("django", asked - 0.001) is not None
        samples = {s.name: s for s in scraped(answer)}
        assert set(samples) == {"hits", "done_total"}
        assert samples["hits"].labels == {"job": "django:cell"}
        assert samples["hits"].timestamp is None, "Prometheus stamps it: the scrape's own time"
        Backend.delay = 2.5  # an event loop stalled behind blocking requests
        time.sleep(0.1)
        answer = relay_scrape(relay)
        assert answer.elapsed.total_seconds() < patience + 0.4, "within the scrape timeout"
        assert answer.status_code == 200, "meanwhile the latest copy"
        # Served again: the gauge holds, the counter is left out (no increase at this scrape).
        assert {s.name for s in scraped(answer)} == {"hits"}
        relay.clear("django")
        assert relay_scrape(relay).status_code == 503
    finally:
        relay.close()


# --- with a real Prometheus scraping it ----------------------------------------


IN_FLIGHT = 32


class Gauge(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"# TYPE in_flight gauge\nin_flight {IN_FLIGHT}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _value(client: PrometheusClient, job: str, at: float) -> float | None:
    found = client.query(f'in_flight{{job="{job}"}}', at=at)
    return float(found[0]["value"][1]) if found else None


def _newest(client: PrometheusClient, job: str) -> float:
    """The time of the newest sample Prometheus holds of the job's gauge (0: none)."""
    found = client.query(f'timestamp(in_flight{{job="{job}"}})')
    return float(found[0]["value"][1]) if found else 0.0


def _last_scrape(client: PrometheusClient) -> float:
    found = client.query(f'timestamp(up{{job="{APP_JOB}"}})')
    return float(found[0]["value"][1]) if found else 0.0


@pytest.mark.live
def test_a_cells_gauge_ends_when_the_relay_moves_on_or_its_target_goes(tmp_path):
    target = ThreadingHTTPServer(("127.0.0.1", 0), Gauge)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{target.server_address[1]}"
    relay = ScrapeRelay((APP_JOB,), interval=1.0, timeout=2.0)
    scrape = ScrapeTarget(APP_JOB, relay.address, f"/{APP_JOB}/metrics", honor_labels=True)
    try:
        with (
            run_prometheus([scrape], rules=False, ready_timeout=30, log_dir=tmp_path) as server,
            PrometheusClient(server.url) as client,
        ):
            relay.point(APP_JOB, url, "django:first-cell")
            assert wait_until(lambda: _newest(client, "django:first-cell") > 0, 30), "scraped"
            moved = time.time()
            relay.point(APP_JOB, url, "django:next-cell")
            # Two scrapes of the next cell after the move: the first cell's last is older.
            assert wait_until(lambda: _newest(client, "django:next-cell") > moved + 1.0, 10)
            later = _newest(client, "django:next-cell")
            assert _value(client, "django:next-cell", later) == IN_FLIGHT
            assert _value(client, "django:first-cell", later) is None, (
                "the first cell's gauge ends with its scrapes, not 5 minutes later"
            )
            gone = time.time()
            relay.clear(APP_JOB)  # the run is over: its servers are gone
            assert wait_until(lambda: _last_scrape(client) > gone + 1.0, 10)
            assert _value(client, "django:next-cell", gone + 1.5) is None
    finally:
        relay.close()
        target.shutdown()
        target.server_close()
