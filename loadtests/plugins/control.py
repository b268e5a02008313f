"""What the two Locust plugins share: a controller that runs on the master (or the only process)
once the users are spawned, asks every worker for its part and gathers the answers, and writes
one typed file.

The measured windows (``window``) ask each worker for its windows' report after the last edge;
the open model (``open_model``) asks each for its share of a step, and gets its trace. A plugin
names its messages (``<name>_ask``, ``<name>_answer``), says when it is active and what a worker
does when asked (in a greenlet of its own, so Locust's message loop never waits); the controller
runs one control greenlet at a time (spawning completes again when the users are changed, and
the web UI may start a run again after a stop), and a control that fails stops Locust with a
non-zero exit code.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gevent
import msgspec
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtests.wait import wait_until

logger = logging.getLogger(__name__)


@dataclass
class Controller:
    name: str  # of its messages: <name>_ask, <name>_answer
    active: Callable[[Environment], bool]  # whether this run uses the plugin
    control: Callable[[Environment], None]  # the master's (or the only process's) part
    work: Callable[[Environment, dict], object]  # a worker's answer to an ask
    environment: Environment | None = None  # from init (spawning_complete does not pass it)
    greenlet: gevent.Greenlet | None = None  # the control running now
    answers: dict[object, list] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        events.init.add_listener(self._on_init)
        events.spawning_complete.add_listener(self._on_spawning_complete)

    def _on_init(self, environment, **_kwargs) -> None:
        self.environment, runner = environment, environment.runner
        if isinstance(runner, WorkerRunner):

            def reply(data: dict) -> None:
                body = self.work(environment, data)
                runner.send_message(f"{self.name}_answer", {"key": data["key"], "body": body})

            runner.register_message(
                f"{self.name}_ask", lambda msg, **_: gevent.spawn(reply, msg.data)
            )
        elif isinstance(runner, MasterRunner):

            def keep(msg, **_kwargs) -> None:
                self.answers[msg.data["key"]].append(msg.data["body"])

            runner.register_message(f"{self.name}_answer", keep)

    def _on_spawning_complete(self, **_kwargs) -> None:
        environment = self.environment
        if environment is None or isinstance(environment.runner, WorkerRunner):
            return
        if self.active(environment) and not self.running:
            self.greenlet = gevent.spawn(self.control, environment)
            self.greenlet.link_exception(self._failed)

    @property
    def running(self) -> bool:
        return self.greenlet is not None and not self.greenlet.dead

    def _failed(self, greenlet: gevent.Greenlet) -> None:
        logger.error("%s failed: %r", self.name, greenlet.exception)
        self.environment.process_exit_code = 1
        self.environment.runner.quit()

    def workers(self) -> list[str]:
        """The master's workers now (none: this is the only process)."""
        runner = self.environment.runner
        if not isinstance(runner, MasterRunner):
            return []
        return sorted(
            n.id for n in runner.clients.ready + runner.clients.spawning + runner.clients.running
        )

    def gather(self, key, asks: dict[str, dict], timeout: float, cancel=None, grace=0.0) -> list:
        """Send each worker its ask (worker id -> data) and wait, at most ``timeout`` seconds,
        for every answer; once ``cancel`` (an event) is set, ``grace`` seconds more at most."""
        for client_id, data in asks.items():
            self.environment.runner.send_message(f"{self.name}_ask", data | {"key": key}, client_id)

        def arrived() -> bool:
            return len(self.answers[key]) >= len(asks)

        stop = cancel.is_set if cancel is not None else lambda: False
        if not wait_until(arrived, timeout, 0.05, stop=stop, sleep=gevent.sleep):
            wait_until(arrived, grace, 0.05, sleep=gevent.sleep)
        return self.answers.pop(key, [])


def write(path: Path, record: object) -> None:
    """``record`` as JSON at ``path``, whole or not at all (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.encode(record))
    tmp.replace(path)
