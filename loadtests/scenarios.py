"""The load scenarios, and what theory says each one can reach.

Pure data and arithmetic, with no import of Locust or of the app, so both sides can use it: the
locustfile builds one user class per scenario from it, and the sweep computes its ceilings.

Two ceilings per measured cell, both in requests per second:

- **Little's law** (``littles_law_rps``): Locust's users wait for each answer before they ask
  again (no think time), so at most ``users`` requests are in flight and throughput can never pass
  ``users / service_time``. ``service_time`` is the least a request can take: ``delay`` for the
  sleep views and the concurrent fan-outs (their calls wait for the upstream's ``delay`` together),
  ``fanout x delay`` for the sequential baseline.
- **The server's concurrency model** (``model_rps``): how many of those requests the server can
  hold at once. A gthread worker holds each request in one of its ``threads``, whatever the view.
  An ASGI worker runs async views side by side on its event loop and gives each sync view a thread
  of its own (Django wraps every request in asgiref's ``ThreadSensitiveContext``), so only a
  blocking call inside an async view, which stops the whole loop, limits it to one request at a
  time. The fan-outs also share each worker's pool of ``pool`` upstream connections (and, for
  the thread-pool fan-out, as many threads), so a worker holds at most ``pool // fanout`` of them.
  The database paths hold one of each worker's ``db_pool`` (``DB_POOL_SIZE``) connections per
  query, so a worker holds at most ``db_pool`` of them (under a WSGI kind, min(threads, pool)).
  The model ceiling is ``min(users, slots) / service_time``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from mysite.servers import WSGI_KINDS

# How a view waits: the kinds of waiting the lab compares.
SLEEP = "sleep"  # waits `delay` once
FANOUT = "fanout"  # `fanout` upstream calls at once, waits `delay` once
SEQUENTIAL = "sequential"  # `fanout` upstream calls one after another
DATABASE = "database"  # one query that waits `delay` inside PostgreSQL

# What a limit on the requests held at once is made of: threads or loops, or database connections.
SLOTS, POOL = "slots", "pool"

# How the view is written, which decides what it holds while it waits.
SYNC = "sync"
ASYNC = "async"
ASYNC_BLOCKING = "async-blocking"


@dataclass(frozen=True)
class Scenario:
    name: str
    user_class: str
    path: str  # also the app's route label for it
    wait: str
    view: str
    title: str
    # The app's environment for this scenario (the upstream transport of the async fan-outs).
    server_env: tuple[tuple[str, str], ...] = ()
    # Why the view cannot run under a WSGI kind ("" : it can): said, never measured as a failure.
    asgi_only: str = ""

    def applies_to(self, server: str) -> bool:
        return not (self.asgi_only and server in WSGI_KINDS)

    @property
    def uses_upstream(self) -> bool:
        return self.wait in (FANOUT, SEQUENTIAL)

    @property
    def uses_database(self) -> bool:
        return self.wait == DATABASE

    def service_time(self, delay: float, fanout: int) -> float:
        """The least time one request takes, in seconds."""
        return fanout * delay if self.wait == SEQUENTIAL else delay

    def littles_law_rps(self, users: int, delay: float, fanout: int) -> float:
        return users / self.service_time(delay, fanout)

    def slot_limits(
        self, server: str, workers: int, threads: int, fanout: int, pool: int, db_pool: int = 0
    ) -> list[tuple[int, str, str]]:
        """Each limit on the requests held at once: (requests, why, kind: SLOTS or POOL)."""
        limits: list[tuple[int, str, str]] = []
        if server in WSGI_KINDS:
            limits.append((workers * threads, f"{workers} worker(s) x {threads} threads", SLOTS))
        elif self.view == ASYNC_BLOCKING:
            limits.append((workers, f"{workers} blocked event loop(s)", SLOTS))
        if self.wait == FANOUT:
            held = f"{workers} worker(s) x {pool} pooled connections / {fanout} calls"
            limits.append((workers * (pool // fanout), held, SLOTS))
        if self.wait == DATABASE and db_pool:
            held = f"{workers} worker(s) x {db_pool} pooled database connections"
            limits.append((workers * db_pool, held, POOL))
        return limits

    def slots(
        self, server: str, workers: int, threads: int, fanout: int, pool: int, db_pool: int = 0
    ) -> tuple[int | None, str]:
        """Requests the server can hold at once (None: only the users limit it), and why."""
        limits = self.slot_limits(server, workers, threads, fanout, pool, db_pool)
        return min((n, why) for n, why, _ in limits) if limits else (None, "")

    def model(
        self,
        server: str,
        workers: int,
        threads: int,
        users: int,
        delay: float,
        fanout: int,
        pool: int,
        db_pool: int = 0,
    ) -> tuple[float, str]:
        """The model's ceiling in requests/s, and the arithmetic behind it in words."""
        service = self.service_time(delay, fanout)
        service_text = f"({fanout} x {delay:g} s)" if self.wait == SEQUENTIAL else f"{delay:g} s"
        slots, held = self.slots(server, workers, threads, fanout, pool, db_pool)
        if slots is None or slots >= users:
            return users / service, f"{users} users / {service_text}"
        return slots / service, f"{held} / {service_text}"


VIEW_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("sync-api", "SyncApiUser", "/sync/api/", SLEEP, SYNC, "sync view, blocking sleep"),
        Scenario(
            "async-api", "AsyncApiUser", "/async/api/", SLEEP, ASYNC, "async view, asyncio.sleep"
        ),
        Scenario(
            "async-fanout",
            "AsyncFanoutUser",
            "/async/api_aggregated/",
            FANOUT,
            ASYNC,
            "async fan-out: asyncio.gather, httpx API over aiohttp",
            (("UPSTREAM_TRANSPORT", "aiohttp"),),
        ),
        Scenario(
            "async-fanout-httpx",
            "AsyncFanoutUser",
            "/async/api_aggregated/",
            FANOUT,
            ASYNC,
            "async fan-out: asyncio.gather, httpx's own transport",
            (("UPSTREAM_TRANSPORT", "httpx"),),
        ),
        Scenario(
            "thread-fanout",
            "ThreadFanoutUser",
            "/sync/api_aggregated/",
            FANOUT,
            SYNC,
            "sync fan-out through a thread pool",
        ),
        Scenario(
            "sequential",
            "SequentialUser",
            "/sync/api_sequential/",
            SEQUENTIAL,
            SYNC,
            "sequential calls (the baseline)",
        ),
        Scenario(
            "async-blocking",
            "AsyncBlockingUser",
            "/async/blocking/",
            SLEEP,
            ASYNC_BLOCKING,
            "anti-pattern: blocking sleep in an async view",
        ),
    )
}

# The database paths (mysite/db): the sweep starts PostgreSQL for them (once, when a database
# cell or plan runs) and their model knows the pool (DB_POOL_SIZE per worker). Under a WSGI kind
# (gunicorn gthread, granian-wsgi) the native path does not apply (the view answers 501): such
# configurations are skipped, with this reason, never measured as a failure.
NATIVE_ASGI_ONLY = (
    "django-async-backend is ASGI only: under WSGI each async view gets an event loop of its own,"
    " which the async pool cannot serve (the view answers 501)"
)
DB_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("sync-db", "SyncDbUser", "/sync/db/", DATABASE, SYNC, "sync ORM, Django's pool"),
        Scenario(
            "async-db", "AsyncDbUser", "/async/db/", DATABASE, ASYNC, "async ORM (a thread each)"
        ),
        Scenario(
            "async-db-native",
            "AsyncDbNativeUser",
            "/async/db_native/",
            DATABASE,
            ASYNC,
            "django-async-backend: asyncio connections, async pool",
            asgi_only=NATIVE_ASGI_ONLY,
        ),
    )
}
# Every scenario a closed-loop cell or a capacity search can run: the views, then the database.
SCENARIOS: dict[str, Scenario] = {**VIEW_SCENARIOS, **DB_SCENARIOS}
# What the load asks for unless told otherwise (the locustfile's ``--delay`` and ``--fanout``,
# the sweep's profiles). Shorter than the app's own default wait (``mysite.demo.params``), so a
# sweep sees many requests per window.
LOAD_DELAY_S = 0.2
LOAD_FANOUT = 5
# Rows each database request reads (the app's own default is mysite.db.params.DEFAULT_ROWS).
LOAD_ROWS = 10


# A route of a project of the user's (``make bench APP=...``): what Locust's route user asks
# for, handed to its process as JSON in this environment variable (its workers inherit it).
ROUTE_ENV = "LAB_ROUTE"
ROUTE_USER_CLASS = "RouteUser"


@dataclass(frozen=True)
class RouteLoad:
    """One request of a project's route, as the load asks for it again and again."""

    method: str
    path: str  # the concrete path (parameters filled)
    label: str  # its URL name, else its pattern
    status: int = 200  # the answer each request must give
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()  # GET and HEAD
    form: tuple[tuple[str, str], ...] = ()  # a data-changing method's form-encoded body
    user_class: str = ROUTE_USER_CLASS

    def to_env(self) -> str:
        return msgspec.json.encode(self).decode()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RouteLoad | None:
        """The route named in ``environ`` (None: none is)."""
        text = environ.get(ROUTE_ENV)
        return msgspec.json.decode(text, type=cls) if text else None
