"""The sweep's Prometheus ends a cell's lines when its run ends (issue 15, item 4).

A gauge such as "Requests in flight" must not hold its last value through the next cell's
run: Prometheus marks a series stale when a scrape no longer has it, but not a series whose
samples carry their own timestamps (Prometheus's querying docs: "Staleness will not be marked
for time series that have timestamps included in their scrapes"; only the 5-minute lookback
ends those). A real Prometheus scrapes the sweep's relay here; the relay first points at one
cell's target, then at the next cell's, then at none.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dashboards.prometheus_server import APP_JOB, ScrapeTarget, run_prometheus
from dashboards.query import PrometheusClient
from loadtests.prometheus.relay import ScrapeRelay
from loadtests.wait import wait_until

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
