"""Which configurations the capacity map searches, per profile, and each search's settings.

A configuration is server kind x workers x threads x scenario, under an instrumentation stack
(``loadtests.observability.stacks``: none, lab, django-prometheus, opentelemetry; ``lab``, the
app as shipped, unless named). ``default`` maps the configurations of the report's three headline
questions (``HEADLINE_PLANS``: the async against the sync view under uvicorn x 1, gunicorn
gthread against uvicorn (the sync view), one gthread worker against two), one search each, as
far as its time limit goes, at a short service time (``HEADLINE_DELAY_S``), which buys each step
its samples; ``make capacity`` maps a question's pair with ``REPEATS`` fresh searches each for
its 95% interval. ``full`` maps every server kind, worker count, gthread
thread count and scenario, with fresh repeats for a CI, and what each stack costs
(``STACK_PLANS``: the sync and async views under uvicorn x 1 and gthread x 1, and the async
fan-out, under every stack); it maps the database paths (``DB_SCENARIOS``) on every kind at each of
``FULL_POOL_SIZES`` (``DB_POOL_SIZE``). ``default`` leaves them to the database comparison
(``sweep.db_compare``): one search each, pool-bound at the same ceiling by construction, could
not separate them. ``smoke`` is the tests' short look.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from loadtests.analysis.capacity import configuration_key, model_ceiling, model_kind
from loadtests.analysis.lambda_star import REPEATS
from loadtests.model.experiment import DEFAULT_STACK, STACK_NAMES, UPSTREAM_POOL_SIZE
from loadtests.plugins.search import (
    CALIBRATION_S,
    MAX_STEPS,
    MAX_TESTS_PER_EDGE,
    MIN_STEP_REQUESTS,
    MIN_STEP_S,
    MIN_WARMUP_S,
    PRECISION,
    STEP_REQUESTS,
    TESTS_PER_EDGE,
    WARMUP_SLOS,
    default_slo_ms,
    least_hold_s,
)
from loadtests.scenarios import DB_SCENARIOS, LOAD_FANOUT, SCENARIOS, Scenario
from mysite.launcher import DEFAULT_THREADS

from .plan import FULL_POOL_SIZES, ProjectRoute

# Half the closed-loop cells' wait: the knee comes at higher rates, so each step reaches its
# least number of requests sooner, while the SLO (2 x 0.1 s + 20 ms) leaves room for the
# scheduling jitter of a busy two-core machine.
CAPACITY_DELAY_S = 0.1
# The default's: a fifth of that, so a step near the knee gets its 300 requests in about a
# second (SLO 2 x 20 ms + 20 ms = 60 ms); --profile full maps at CAPACITY_DELAY_S.
HEADLINE_DELAY_S = 0.02
# Where a search starts: half the concurrency model's ceiling, or this when only the CPU limits
# (about half what one core of this lab's machine serves of the sleep views).
UNBOUNDED_START_RPS = 400.0
MAX_RPS = 20000.0
# The profiles whose run maps the capacity unless told not to (smoke, make quick's, does not).
MAPPED_BY_DEFAULT = ("default", "full")
# Seconds the capacity phase may take, per profile (the closed-loop cells and the database
# comparison have their own). The default's is what make bench's five minutes leave after
# set-up and the closed-loop cells' and the database comparison's limits
# (tests/loadtests/sweep/test_cli.py): its twelve searches (four configurations x three) may not
# all fit; a configuration that would not is left out, and the report names the question it
# leaves unanswered.
TIME_LIMITS = {"default": 95.0, "full": 4 * 3600.0, "smoke": 60.0}
# Steps a search takes, for the time estimate: bracketing and bisecting near the knee, then
# each edge's re-tests, more while an edge is close to call. Measured live: 16 a search under
# the full profile (the stacks24 run), 9-28 (mean 17) under the default's (two searches of each
# headline configuration, 7 min); simulated queues take fewer (9-14).
STEPS_EXPECTED = 16
ROUTE_SLO_FLOOR_MS = 100.0  # the least p99 objective of a project's route (--slo-ms names another)


@dataclass(frozen=True)
class CapacityPlan:
    """One configuration's search: the lab's own view (``scenario``), or a project's ``route``
    (then ``scenario`` is the route's name in the map)."""

    server: str
    workers: int
    threads: int
    scenario: str
    delay: float
    instrumentation: str = DEFAULT_STACK  # a name of loadtests.observability.stacks
    repeats: int = 1
    min_requests: int = MIN_STEP_REQUESTS
    min_step_s: float = MIN_STEP_S
    growth: float = 0.0  # 0: the search's own (small near a known slot ceiling, else doubling)
    # The search's first rate (0: the plugin's own, CEILING_START_SHARE x the slot ceiling, else
    # ``start_rps``): a caller that knows where theory puts λ* starts the bracket there.
    first_rps: float = 0.0
    precision: float = 0.1
    max_steps: int = MAX_STEPS
    edge_tests: int = TESTS_PER_EDGE  # tests of each bracket edge, at least
    max_edge_tests: int = MAX_TESTS_PER_EDGE  # and at most, while one is too close to call
    step_requests: int = STEP_REQUESTS  # judged requests a step that holds runs to
    calibrate_s: float = CALIBRATION_S  # a low-rate calibration step first (0: none)
    fanout: int = LOAD_FANOUT
    slo_ms: float | None = None  # None: the default SLO from the service time
    db_pool: int = 0  # DB_POOL_SIZE per worker, for the database paths (0: not one)
    route: ProjectRoute | None = None

    @property
    def variant(self) -> str:
        """What the key adds for the stack: its name, unless it is the app as shipped."""
        return "" if self.instrumentation == DEFAULT_STACK else self.instrumentation

    @property
    def base_key(self) -> str:
        """The configuration's name without its stack (what ``MATCH`` selects)."""
        return configuration_key(
            self.server, self.workers, self.threads, self.scenario, self.db_pool
        )

    @property
    def key(self) -> str:
        return configuration_key(
            self.server, self.workers, self.threads, self.scenario, self.db_pool, self.variant
        )

    @property
    def slug(self) -> str:
        """The key as a file name (a route's name may hold any character)."""
        return "".join(c if c.isalnum() or c in "-_." else "-" for c in self.key).strip("-")

    @property
    def spec(self) -> Scenario | ProjectRoute:
        return self.route or SCENARIOS[self.scenario]

    @property
    def uses_database(self) -> bool:
        return self.spec.uses_database

    @property
    def skipped(self) -> str:
        """Why this configuration cannot run ("" : it can)."""
        return "" if self.spec.applies_to(self.server) else self.spec.asgi_only

    @property
    def service_s(self) -> float:
        return self.spec.service_time(self.delay, self.fanout)

    @property
    def slo_p99_ms(self) -> float:
        # A route that barely waits would get 2 x S + 20 ms, a few milliseconds over S: within
        # the scheduling jitter of a busy machine, for a page that renders a template and
        # queries its database (the lab's own views at delay 0 get a floor for the same reason).
        floor = ROUTE_SLO_FLOOR_MS if self.route else 0.0
        return self.slo_ms or max(default_slo_ms(self.service_s), floor)

    def model(self) -> tuple[float | None, str]:
        args = (self.server, self.workers, self.threads, self.delay, self.fanout)
        return model_ceiling(self.spec, *args, UPSTREAM_POOL_SIZE, self.db_pool)

    def slots(self) -> tuple[int | None, str]:
        """The requests the server holds at once (the M/D/c's c), and why."""
        args = (self.server, self.workers, self.threads, self.fanout, UPSTREAM_POOL_SIZE)
        return self.spec.slots(*args, self.db_pool)

    @property
    def model_binds(self) -> str:
        args = (self.server, self.workers, self.threads, self.fanout, UPSTREAM_POOL_SIZE)
        return model_kind(self.spec, *args, self.db_pool)

    @property
    def slot_ceiling(self) -> float | None:
        """The concurrency model's ceiling, which the search starts near (None: only the CPU).
        None for a route too: a WSGI kind's workers x threads / S lies far above the CPU's
        ceiling for a route that computes rather than waits (the limit still names the model)."""
        return None if self.route else self.model()[0]

    @property
    def knee_rps(self) -> float:
        """The knee's order of magnitude, for the time estimate: the slot ceiling, else where
        the search starts; a route's, what its workers serve one at a time."""
        if self.route:
            return self.workers / self.service_s
        return self.slot_ceiling or self.start_rps

    @property
    def start_rps(self) -> float:
        """Half the slot ceiling (or ``UNBOUNDED_START_RPS``). A route's: a quarter of the lower
        of the threads' ceiling and what the workers serve one at a time (S is at least the CPU
        per request): a first step far past the knee of a server sharing its cores fills a
        queue that the generator, too, falls behind on; the search doubles from there."""
        ceiling, _ = self.model()
        if self.route:
            return round(min(ceiling or math.inf, self.knee_rps) / 4, 1)
        return round(ceiling / 2, 1) if ceiling else UNBOUNDED_START_RPS

    def estimate(self, start_cost: float) -> float:
        """Seconds the searches should take: starts, a calibration, and ``STEPS_EXPECTED`` steps
        near the knee, each a warm-up and at least ``least_hold_s`` judged seconds."""
        warmup = max(MIN_WARMUP_S, WARMUP_SLOS * self.slo_p99_ms / 1000.0)
        hold = least_hold_s(self.slo_p99_ms, self.precision, self.min_step_s)
        step = warmup + max(hold, self.step_requests / self.knee_rps) + 0.5
        return self.repeats * (start_cost + self.calibrate_s + STEPS_EXPECTED * step)


def _block(servers, workers, threads, scenarios, **settings) -> list[CapacityPlan]:
    return [
        CapacityPlan(server=s, workers=w, threads=t, scenario=c, **settings)
        for c in scenarios
        for s in servers
        for w in workers
        for t in (threads if s in ("gunicorn-gthread", "granian-wsgi") else (DEFAULT_THREADS,))
    ]


def _db_block(servers, workers, threads, pools, **settings) -> list[CapacityPlan]:
    """The database paths at each pool size (configurations a path cannot run stay, skipped)."""
    return [
        replace(plan, db_pool=pool)
        for pool in pools
        for plan in _block(servers, workers, threads, DB_SCENARIOS, **settings)
    ]


HEADLINE = ("uvicorn", "gunicorn-gthread", "granian")
SEARCH = {"min_requests": MIN_STEP_REQUESTS, "precision": PRECISION, "repeats": REPEATS}
QUICK = {"delay": HEADLINE_DELAY_S, **SEARCH}
FULL = {"delay": CAPACITY_DELAY_S, **SEARCH}
ALL_SERVERS = ("uvicorn", "gunicorn-gthread", "gunicorn-uvicorn", "granian", "granian-wsgi")
SLEEPS = ("sync-api", "async-api", "async-blocking")
# What each instrumentation stack costs at capacity (issue 23): the sync and async views under
# one uvicorn and one gthread worker, and the async fan-out (a client span per upstream call).
STACK_PLANS = (
    ("uvicorn", "gunicorn-gthread"),
    (1,),
    (DEFAULT_THREADS,),
    ("sync-api", "async-api", "async-fanout"),
)


def matching(plans: list[CapacityPlan], pattern: str | None) -> list[CapacityPlan]:
    """The plans whose name without its stack (``base_key``) ``pattern`` (``--capacity-match``,
    a regular expression) finds: ``INSTRUMENTATION`` picks the stacks."""
    return [p for p in plans if not pattern or re.search(pattern, p.base_key)]


def under_stacks(plans: list[CapacityPlan], stacks: list[str]) -> list[CapacityPlan]:
    """Each configuration of ``plans`` once under each stack named, in that order (``make
    capacity INSTRUMENTATION=none,lab``: the stacks of one configuration side by side)."""
    bases = dict.fromkeys(replace(p, instrumentation=DEFAULT_STACK) for p in plans)
    return [replace(base, instrumentation=name) for base in bases for name in stacks]


def plans_for(profile: str) -> list[CapacityPlan]:
    """The configurations a profile maps, most telling first (a time limit cuts the tail)."""
    if profile == "smoke":
        return _block(
            ("uvicorn",), (1,), (DEFAULT_THREADS,), ("async-api",), **QUICK | {"repeats": 1}
        )
    if profile == "full":
        plans = _block(HEADLINE, (1,), (DEFAULT_THREADS,), ("sync-api", "async-api"), **FULL)
        plans += under_stacks(_block(*STACK_PLANS, **FULL), list(STACK_NAMES))
        plans += _block(ALL_SERVERS, (1, 2, 4), (4, 8, 16), SLEEPS, **FULL)
        plans += _block(
            ("uvicorn", "gunicorn-gthread"),
            (1,),
            (DEFAULT_THREADS,),
            ("async-fanout", "thread-fanout", "sequential"),
            **FULL,
        )
        plans += _db_block(ALL_SERVERS, (1, 2), (DEFAULT_THREADS,), FULL_POOL_SIZES, **FULL)
        return list(dict.fromkeys(plans))
    return [
        CapacityPlan(
            server=s,
            workers=w,
            threads=DEFAULT_THREADS,
            scenario=c,
            **QUICK | {"repeats": DEFAULT_REPEATS},
        )
        for s, w, c in HEADLINE_PLANS
    ]


# The default's configurations, one search each, most telling first: a steady-state search
# takes about a minute here (STEPS_EXPECTED steps of a warm-up and ``least_hold_s`` or 800
# requests judged), so the default's budget maps the first, the one slot-bound configuration,
# whose λ* the report checks against M/D/c. The headline questions' intervals need REPEATS fresh
# searches of each pair: ``make capacity`` (the report names the command for each question).
HEADLINE_PLANS = (
    ("gunicorn-gthread", 1, "sync-api"),
    ("uvicorn", 1, "sync-api"),
    ("uvicorn", 1, "async-api"),
    ("gunicorn-gthread", 2, "sync-api"),
)
DEFAULT_REPEATS = 1
