"""The reliability suite's own load: one user class per scenario, no wait between requests.

``locust -f tests/reliability/locustfile.py <UserClass> --headless --host URL``. Each response's
body is checked, not only its status.
"""

from locust import FastHttpUser, constant, task

DELAY = 0.05
FANOUT = 10


class _Saturating(FastHttpUser):
    abstract = True
    wait_time = constant(0)
    path = ""
    name = ""

    @task
    def call(self) -> None:
        with self.client.get(self.path, name=self.name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
            elif self.expected not in (response.text or ""):
                response.failure("unexpected body")

    expected = '"message": "Hello World!"'


class AsyncHelloUser(_Saturating):
    path = f"/async/api/?delay={DELAY}"
    name = "/async/api/"


class SyncHelloUser(_Saturating):
    path = f"/sync/api/?delay={DELAY}"
    name = "/sync/api/"


class AsyncFanoutUser(_Saturating):
    path = f"/async/api_aggregated/?delay={DELAY}&fanout={FANOUT}"
    name = "/async/api_aggregated/"
    expected = '"errors": []'


class SyncFanoutUser(_Saturating):
    path = f"/sync/api_aggregated/?delay={DELAY}&fanout={FANOUT}"
    name = "/sync/api_aggregated/"
    expected = '"errors": []'
