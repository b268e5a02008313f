"""A small load that reaches every series a panel reads, for the dashboards' live test.

Every route, with successes, client errors (400), unmatched paths (404) and, with the upstream
at ``/fail-odd/``, upstream failures (502) next to fan-outs that succeed (fanout=1); the
blocking endpoint, so the event loop lags; the three database paths (PostgreSQL from the live
stack), so every pool has queries and connections. Loads the exporter as
``loadtests/locustfile.py`` does.
"""

from locust import FastHttpUser, constant, task

import dashboards.locust_exporter  # noqa: F401  (registers the exporter with Locust)

DELAY = "0.01"


class EveryRoute(FastHttpUser):
    wait_time = constant(0.05)

    def _get(self, path: str, name: str, **params: str) -> None:
        self.client.get(path, params=params, name=name)

    @task(3)
    def async_api(self) -> None:
        self._get("/async/api/", "/async/api/", delay=DELAY)

    @task(3)
    def sync_api(self) -> None:
        self._get("/sync/api/", "/sync/api/", delay=DELAY)

    @task
    def blocking(self) -> None:
        self._get("/async/blocking/", "/async/blocking/", delay="0.2")

    @task(2)
    def fanouts(self) -> None:
        # fanout=1 calls only task 0, which /fail-odd/ answers; more calls fail (502).
        for path in ("/async/api_aggregated/", "/sync/api_aggregated/", "/sync/api_sequential/"):
            self._get(path, path, delay=DELAY, fanout="1")
            self._get(path, path, delay=DELAY, fanout="3")
        self._get("/async/aggregate_sync_view/", "/async/aggregate_sync_view/", delay=DELAY)

    @task(2)
    def database(self) -> None:
        for path in ("/sync/db/", "/async/db/", "/async/db_native/"):
            self._get(path, path, delay=DELAY, rows="3")

    @task
    def client_errors(self) -> None:
        self._get("/async/api/", "/async/api/ (bad delay)", delay="soon")
        self._get("/no/such/path/", "unmatched")
