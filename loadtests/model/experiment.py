"""An experiment: one configuration of the app under test and the closed-loop load put on it.

A configuration is a server kind, its workers and threads and the database pool (a database
scenario's); the load is a scenario's users, its view's delay and fan-out, each window's length
and the repeats. The instrumentation stacks a configuration may run under are ``STACK_NAMES``.
``loadtests.sweep.plan.CellPlan`` adds how the sweep runs one (its warm-up, windows and
estimates); the analysis reads an experiment from here, below both.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtests.scenarios import SCENARIOS, Scenario
from mysite.demo.params import MAX_FANOUT

# Connections (and sync fan-out threads) per worker that the sweep gives each server: the app's
# own default, the largest fan-out, so one request's calls never queue behind each other.
UPSTREAM_POOL_SIZE = MAX_FANOUT
# What measures the app (each configuration's instrumentation): the names of
# loadtests.observability.stacks, which says what each one runs; "lab", the lab's own middleware,
# unless a run names others.
STACK_NAMES = ("none", "lab", "django-prometheus", "opentelemetry")
DEFAULT_STACK = "lab"
EXTERNAL = "external"  # the server kind of cells measured on --host
# Servers that give a connection a thread while it sends its request (gunicorn's gthread
# worker reads the request with a blocking read in the thread that will serve it).
THREAD_PER_CONNECTION = frozenset({"gunicorn-gthread"})
# Where each kind reads a request until its headers end; the report's explanation.
READS_REQUESTS = {
    "uvicorn": "on its event loop (asyncio), and only a complete request reaches Django",
    "gunicorn-gthread": "in one of its threads, with a blocking read, until the headers end",
    "gunicorn-uvicorn": "on uvicorn's event loop in each gunicorn worker",
    "granian": "in Rust's asynchronous I/O, and only a complete request reaches Python",
    "granian-wsgi": "in Rust's asynchronous I/O; only a complete request takes a blocking thread",
}


@dataclass(frozen=True)
class Experiment:
    server: str
    workers: int
    scenario: str
    users: int
    delay: float
    fanout: int
    threads: int
    warmup: float
    window: float
    repeats: int
    restart_per_repeat: bool = True
    windows_per_run: int = 2
    new_connections: bool = True
    copy: int = 0  # >0: the same configuration measured again, as a separate cell
    db_pool: int = 0  # DB_POOL_SIZE per worker, for the database scenarios (0: not one)

    @property
    def key(self) -> str:
        pool = f"/pool{self.db_pool}" if self.db_pool else ""
        return f"{self.server}/{self.workers}/{self.scenario}{pool}" + (
            f"#{self.copy + 1}" if self.copy else ""
        )

    @property
    def slug(self) -> str:
        pool = f"-pool{self.db_pool}" if self.db_pool else ""
        return f"{self.server}-{self.workers}w-{self.scenario}{pool}" + (
            f"-{self.copy + 1}" if self.copy else ""
        )

    @property
    def skipped(self) -> str:
        """Why this cell cannot run ("" : it can): said, never measured as a failure."""
        if self.server == EXTERNAL:
            return ""
        return "" if self.spec.applies_to(self.server) else self.spec.asgi_only

    @property
    def service_time(self) -> float:
        return self.spec.service_time(self.delay, self.fanout)

    @property
    def littles_law_rps(self) -> float:
        """The users' ceiling: each waits for its request's service time, then asks again."""
        return self.spec.littles_law_rps(self.users, self.delay, self.fanout)

    @property
    def spec(self) -> Scenario:
        return SCENARIOS[self.scenario]

    def model(self) -> tuple[float, str]:
        if self.server == EXTERNAL:
            return self.littles_law_rps, "Little's law only: the server is not the sweep's"
        return self.spec.model(
            self.server,
            self.workers,
            self.threads,
            self.users,
            self.delay,
            self.fanout,
            UPSTREAM_POOL_SIZE,
            self.db_pool,
        )
