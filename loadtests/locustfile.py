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

The user classes are made from the scenarios' table (``loadtests.scenarios.SCENARIOS``: each
one's ``user_class``, tagged with its name, how its view is written and how it waits), so a
scenario added there is a class here. ``make bench`` (``python -m loadtests.sweep``) runs them
one at a time across server kinds and worker counts, through the measured windows of
``loadtests.plugins.window``; ``--arrival-rate`` runs one as the open model
(``loadtests.plugins.open_model``).
"""

import itertools
import os
import urllib.parse
from collections.abc import Callable

import gevent
from locust import FastHttpUser, constant, events, tag, task

import dashboards.locust_exporter  # noqa: F401  (serves Locust's stats to Prometheus)
from loadtests import locust_options, scenarios
from loadtests.plugins import window

# The open model (--arrival-rate R): requests on a schedule, latency from the intended start.
from loadtests.plugins.open_model import OpenModelUser  # noqa: F401

_task_ids = itertools.count()
# What one request is: method, path with its query, headers, body, and the check of its answer
# (what is wrong with it, or None).
Request = tuple[str, str, dict[str, str], str | None, Callable[..., str | None]]


@events.init_command_line_parser.add_listener
def _add_arguments(parser):
    locust_options.add_arguments(parser)


@events.init.add_listener
def _refresh_clock(**_kwargs):
    # Locust times ``-t`` from the event loop's cached clock, which stands still while the
    # imports above run (seconds on a busy machine): a 3 s run measured 0.3 s without this.
    gevent.get_hub().loop.update_now()


class LabUser(FastHttpUser):
    """Asks for one scenario's path again and again, and checks each answer."""

    abstract = True
    wait_time = constant(0)
    network_timeout = 30.0
    connection_timeout = 10.0
    scenario: scenarios.Scenario | scenarios.RouteLoad

    def on_start(self) -> None:
        # The sweep's windows stagger the users' first requests (0 s otherwise).
        gevent.sleep(window.start_jitter(self.environment))

    def params(self) -> tuple[float, int, bool]:
        options = self.environment.parsed_options
        delay = getattr(options, "delay", scenarios.LOAD_DELAY_S)
        fanout = getattr(options, "fanout", scenarios.LOAD_FANOUT)
        close = getattr(options, "new_connections", False)
        # The web UI hands custom arguments back as text.
        return float(delay), int(fanout), str(close).lower() in ("true", "1", "on")

    def ask(self) -> None:
        """One request, its answer checked (the open model's pacer calls this too)."""
        delay, fanout, close = self.params()
        method, url, headers, body, problem = self.request(delay, fanout)
        if close:
            headers["Connection"] = "close"
        window.recorder.begin()
        with self.client.request(
            method,
            url,
            name=self.scenario.path,
            headers=headers or None,
            data=body,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if wrong := problem(response):
                response.failure(wrong)
            else:
                response.success()

    def request(self, delay: float, fanout: int) -> Request:
        task_id = str(next(_task_ids))
        query = f"delay={delay:g}&task_id={task_id}"
        if self.scenario.uses_upstream:
            query += f"&fanout={fanout}"
        if self.scenario.uses_database:
            query = f"delay={delay:g}&rows={scenarios.LOAD_ROWS}"
        url = f"{self.scenario.path}?{query}"
        return "GET", url, {}, None, lambda r: self.problem(r, fanout, task_id)

    def problem(self, response, fanout: int, task_id: str) -> str | None:
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


def _user_class(scenario: scenarios.Scenario) -> type[LabUser]:
    """The scenario's user class: LabUser asking for its path, tagged for Locust's ``--tags``."""
    kind = scenario.view.split("-")[0]  # sync or async
    extra = ("anti-pattern",) if scenario.view == scenarios.ASYNC_BLOCKING else ()

    @tag(scenario.name, kind, scenario.wait, *extra)
    @task
    def load(self) -> None:
        self.ask()

    body = {"scenario": scenario, "load": load, "__doc__": scenario.title, "__module__": __name__}
    return type(scenario.user_class, (LabUser,), body)


# One class per user class named in the table (the two async fan-outs share one: they differ
# only in the app's environment).
for _scenario in scenarios.SCENARIOS.values():
    if _scenario.user_class not in globals():
        globals()[_scenario.user_class] = _user_class(_scenario)


class RouteUser(LabUser):
    """A route of a project of the user's (``make bench APP=...``): its method, path, headers,
    query or form body and expected status from ``LAB_ROUTE``; absent from Locust's classes
    when that is unset. Redirects are not followed: a redirect is the answer expected of it."""

    scenario = scenarios.RouteLoad.from_env(os.environ)
    abstract = scenario is None

    def request(self, delay: float, fanout: int) -> Request:
        route = self.scenario
        query = f"?{urllib.parse.urlencode(route.query)}" if route.query else ""
        headers, body = dict(route.headers), None
        if route.form:
            body = urllib.parse.urlencode(route.form)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        return route.method, f"{route.path}{query}", headers, body, self.problem

    def problem(self, response, *_args) -> str | None:
        if response.status_code == self.scenario.status:
            return None
        text = (response.text or "")[:120]
        return f"status {response.status_code}, expected {self.scenario.status}: {text}"

    @task
    def load(self) -> None:
        self.ask()
