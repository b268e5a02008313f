"""Locust scenarios: one small user class per way of waiting that the lab compares.

Run on its own against any served app (``make run``), with the web UI or headless::

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000
    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 --headless -u 20 -r 20 -t 30s \
        --delay 0.2 --fanout 5 AsyncApiUser

Every class runs when none is named, the blocking anti-pattern included, and one scenario's
latency then drags up the others': name one class to measure one scenario, as ``make locust
SCENARIO=name`` does (``loadtests/locust.conf``: the sweep's users and connection behaviour).
``--delay``, ``--fanout`` and ``--new-connections`` are Locust custom arguments, in the web UI
too; Locust's ``--help`` cannot show them: ``python -m loadtests.locust_options --help``.
Users never pause between requests, so each one keeps exactly one request in flight: the closed
loop that Little's law (throughput = users / latency) describes. Bodies are checked, not
only statuses.

``make bench`` (``python -m loadtests.sweep``) runs these classes one at a time across server
kinds and worker counts, through the measured windows of ``loadtests.plugins.window``.
"""

import itertools
import os
import urllib.parse

import gevent
from locust import FastHttpUser, constant, events, tag, task

import dashboards.locust_exporter  # noqa: F401  (serves Locust's stats to Prometheus)
import loadtests.plugins.window
from loadtests import locust_options, scenarios

# The open model (--arrival-rate R): requests on a schedule, latency from the intended start.
from loadtests.plugins.open_model import OpenModelUser  # noqa: F401

_task_ids = itertools.count()


@events.init_command_line_parser.add_listener
def _add_arguments(parser):
    locust_options.add_arguments(parser)


class LabUser(FastHttpUser):
    """Asks for one scenario's path again and again, and checks each answer's body."""

    abstract = True
    wait_time = constant(0)
    network_timeout = 30.0
    connection_timeout = 10.0
    scenario: scenarios.Scenario

    def on_start(self) -> None:
        # The sweep's windows stagger the users' first requests (0 s otherwise).
        gevent.sleep(loadtests.plugins.window.start_jitter(self.environment))

    def params(self) -> tuple[float, int, bool]:
        options = self.environment.parsed_options
        delay = getattr(options, "delay", scenarios.LOAD_DELAY_S)
        fanout = getattr(options, "fanout", scenarios.LOAD_FANOUT)
        close = getattr(options, "new_connections", False)
        # The web UI hands custom arguments back as text.
        return float(delay), int(fanout), str(close).lower() in ("true", "1", "on")

    def ask(self) -> None:
        delay, fanout, close = self.params()
        task_id = str(next(_task_ids))
        query = f"delay={delay:g}&task_id={task_id}"
        if self.scenario.uses_upstream:
            query += f"&fanout={fanout}"
        if self.scenario.uses_database:
            query = f"delay={delay:g}&rows={scenarios.LOAD_ROWS}"
        loadtests.plugins.window.recorder.begin()
        with self.client.get(
            f"{self.scenario.path}?{query}",
            name=self.scenario.path,
            headers={"Connection": "close"} if close else None,
            catch_response=True,
        ) as response:
            problem = self.problem(response, delay, fanout, task_id)
            if problem:
                response.failure(problem)

    def problem(self, response, delay: float, fanout: int, task_id: str) -> str | None:
        """What is wrong with an answer, or None when it is the one the contract promises."""
        if response.status_code != 200:
            return f"status {response.status_code}: {(response.text or '')[:120]}"
        try:
            body = response.json()
        except ValueError:
            return "body is not JSON"
        if not isinstance(body, dict):
            return "body is not a JSON object"
        if self.scenario.uses_database:
            rows = body.get("rows")
            if not isinstance(rows, list) or len(rows) != scenarios.LOAD_ROWS:
                return f"expected {scenarios.LOAD_ROWS} rows, got {str(rows)[:120]}"
            return None
        if not self.scenario.uses_upstream:
            if body.get("message") != "Hello World!" or body.get("task_id") != task_id:
                return f"unexpected body {str(body)[:120]}"
            return None
        if body.get("errors"):
            return f"upstream errors: {str(body['errors'])[:120]}"
        responses = body.get("responses")
        if not isinstance(responses, list) or len(responses) != fanout:
            return f"expected {fanout} responses, got {str(responses)[:120]}"
        for index, item in enumerate(responses):
            if not isinstance(item, dict) or item.get("task_id") != str(index):
                return f"response {index} out of order or malformed: {str(item)[:120]}"
        return None


class SyncApiUser(LabUser):
    """A sync view that blocks its thread for ``delay``."""

    scenario = scenarios.SCENARIOS["sync-api"]

    @tag("sync-api", "sync", "sleep")
    @task
    def sync_api(self):
        self.ask()


class AsyncApiUser(LabUser):
    """An async view that awaits ``asyncio.sleep(delay)``."""

    scenario = scenarios.SCENARIOS["async-api"]

    @tag("async-api", "async", "sleep")
    @task
    def async_api(self):
        self.ask()


class AsyncFanoutUser(LabUser):
    """An async view that makes ``fanout`` upstream calls at once."""

    scenario = scenarios.SCENARIOS["async-fanout"]

    @tag("async-fanout", "async", "fanout")
    @task
    def async_fanout(self):
        self.ask()


class ThreadFanoutUser(LabUser):
    """A sync view that makes ``fanout`` upstream calls at once through a thread pool."""

    scenario = scenarios.SCENARIOS["thread-fanout"]

    @tag("thread-fanout", "sync", "fanout")
    @task
    def thread_fanout(self):
        self.ask()


class SequentialUser(LabUser):
    """A sync view that makes the same calls one after another: the baseline."""

    scenario = scenarios.SCENARIOS["sequential"]

    @tag("sequential", "sync", "fanout")
    @task
    def sequential(self):
        self.ask()


class AsyncBlockingUser(LabUser):
    """The anti-pattern: ``time.sleep`` inside an async view, which stalls its event loop."""

    scenario = scenarios.SCENARIOS["async-blocking"]

    @tag("async-blocking", "async", "anti-pattern")
    @task
    def async_blocking(self):
        self.ask()


class SyncDbUser(LabUser):
    """A sync view whose query waits ``delay`` in PostgreSQL, on Django's pool."""

    scenario = scenarios.DB_SCENARIOS["sync-db"]

    @tag("sync-db", "sync", "database")
    @task
    def sync_db(self):
        self.ask()


class AsyncDbUser(LabUser):
    """The same query through Django's async ORM, which runs it in a thread."""

    scenario = scenarios.DB_SCENARIOS["async-db"]

    @tag("async-db", "async", "database")
    @task
    def async_db(self):
        self.ask()


class AsyncDbNativeUser(LabUser):
    """The same query through django-async-backend, awaited on the event loop (ASGI only)."""

    scenario = scenarios.DB_SCENARIOS["async-db-native"]

    @tag("async-db-native", "async", "database")
    @task
    def async_db_native(self):
        self.ask()


class RouteUser(LabUser):
    """A route of a project of the user's (``make bench APP=...``): its method, path, headers,
    query or form body and expected status from ``LAB_ROUTE``; absent from Locust's classes
    when that is unset. Redirects are not followed: a redirect is the answer expected of it."""

    scenario = scenarios.RouteLoad.from_env(os.environ)
    abstract = scenario is None

    def ask(self) -> None:
        route = self.scenario
        query = f"?{urllib.parse.urlencode(route.query)}" if route.query else ""
        headers = dict(route.headers)
        body = None
        if route.form:
            body = urllib.parse.urlencode(route.form)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if self.params()[2]:
            headers["Connection"] = "close"
        loadtests.plugins.window.recorder.begin()
        with self.client.request(
            route.method,
            f"{route.path}{query}",
            name=route.path,
            headers=headers or None,
            data=body,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != route.status:
                response.failure(
                    f"status {response.status_code}, expected {route.status}: "
                    f"{(response.text or '')[:120]}"
                )
            else:
                response.success()

    @task
    def route(self):
        self.ask()
