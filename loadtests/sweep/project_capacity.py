"""``make bench APP=<dir>``: the capacity map of a Django project of the user's, route by route.

The project is made ready once (``loadtests.project.cli.prepare``: its environment, the lab's
settings shim, the copy of its database, its routes). Then, before any load, each server kind
serves it once: every route is requested (the pre-flight, which stops the run on a wrong answer
and skips a route that needs a login or a CSRF token) and each loadable route
``SERVICE_SAMPLES`` more times, one after another on one connection: their median is the
route's service time S under that kind. Then one capacity plan per loadable route x kind x
worker count, searched like the lab's own (``sweep.capacity``: fresh server, CPU sampler, the
open-model search in Locust, λ*, its bracket, the binding limit), with the project's server
(``loadtests.project.servers``) and Locust's route user (``RouteUser``, told the route by
``LAB_ROUTE``). A route has no ``delay``: S stands in for it in the concurrency model (a
thread-per-request kind holds workers x threads requests for S; an ASGI kind, none: only the
CPU bounds it) and in the SLO. Each entry carries its ``route`` and, beside λ*, what
``analysis.prediction`` predicts from S and the CPU per request the search measured, as the view
is written and if it were async.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from loadtests.analysis.capacity import CapacityEntry, RoutePrediction
from loadtests.analysis.prediction import RouteCost, predict, server_cores
from loadtests.analysis.results import Results
from loadtests.plugins.search import LONGEST_LEAST_S, MIN_WARMUP_S, WARMUP_SLOS, default_slo_ms
from loadtests.project.cli import Prepared, prepare
from loadtests.project.discover import ProjectError
from loadtests.project.preflight import TIMEOUT, preflight, request
from loadtests.project.routes import Route
from loadtests.project.servers import PROJECT_KINDS, serve
from loadtests.scenarios import ASYNC, ROUTE_ENV, SLOTS, SYNC, RouteLoad
from loadtests.wait import wait_until
from mysite.launcher import DEFAULT_THREADS, ServerFailed
from mysite.servers import WSGI_KINDS

from . import capacity, generator
from .capacity_plan import QUICK, STEPS_EXPECTED, CapacityPlan
from .cell import Context
from .generator import GeneratorFailed
from .sampler import TreeSampler, pin_tree

SERVICE_SAMPLES = 20  # sequential requests per route and kind whose median is S
# Worker counts and seconds for the map, per profile: the default's is bounded (a search took
# one to three minutes on a busy two-core machine; what does not fit is named in the notes);
# full maps 1 and 2 workers.
WORKERS = {"default": (1,), "smoke": (1,), "full": (1, 2)}
TIME_LIMITS = {"default": 300.0, "smoke": 90.0, "full": 4 * 3600.0}
# The smoke profile's shorter search (the tests'): fewer, shorter steps, one test per edge.
SHORT_SEARCH = {
    "min_requests": 100,
    "step_requests": 200,
    "max_steps": 8,
    "edge_tests": 1,
    "precision": 0.25,
    "calibrate_s": 1.0,
}
WORKERS_TIMEOUT_S = 60.0
ROUTE_SLO_FLOOR_MS = 100.0  # the least p99 objective of a route (--slo-ms names another)


@dataclass(frozen=True)
class RouteSpec:
    """A route as the capacity plan and its concurrency model see a scenario: no delay, its
    measured service time S instead; held by a thread under a WSGI kind, by nothing under ASGI."""

    load: RouteLoad
    service_s: float
    is_async: bool
    uses_database = False
    uses_upstream = False
    asgi_only = ""

    @property
    def user_class(self) -> str:
        return self.load.user_class

    @property
    def path(self) -> str:
        return self.load.path

    def applies_to(self, server: str) -> bool:
        return True

    def service_time(self, delay: float, fanout: int) -> float:
        return self.service_s

    def slot_limits(self, server, workers, threads, fanout, pool, db_pool=0):
        if server not in WSGI_KINDS:
            return []
        return [(workers * threads, f"{workers} worker(s) x {threads} threads", SLOTS)]

    def slots(self, server, workers, threads, fanout, pool, db_pool=0):
        limits = self.slot_limits(server, workers, threads, fanout, pool, db_pool)
        return min((n, why) for n, why, _ in limits) if limits else (None, "")


@dataclass(frozen=True)
class RoutePlan(CapacityPlan):
    """A capacity plan for a project's route: ``scenario`` is the route's label."""

    route_spec: RouteSpec | None = None

    @property
    def spec(self) -> RouteSpec:
        return self.route_spec

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() or c in "-_." else "-" for c in self.key).strip("-")

    def server_env(self) -> dict[str, str]:
        return {}

    @property
    def slo_p99_ms(self) -> float:
        # A route that barely waits would get 2 x S + 20 ms, a few milliseconds over S: within
        # the scheduling jitter of a busy machine, for a page that renders a template and
        # queries its database (the lab's own views at delay 0 get a floor for the same reason).
        return self.slo_ms or max(default_slo_ms(self.route_spec.service_s), ROUTE_SLO_FLOOR_MS)

    @property
    def slot_ceiling(self) -> None:
        """None for the search: a WSGI kind's workers x threads / S lies far above the CPU's
        ceiling for a route that computes rather than waits, and the search would calibrate and
        start near it; it starts at ``start_rps`` instead. The limit still names the model."""
        return None

    @property
    def start_rps(self) -> float:
        """A quarter of the lower of the threads' ceiling and what the workers serve one at a
        time (S is at least the CPU per request, so the CPU's ceiling is at least that, on
        cores of their own): a first step far past the knee of a server sharing its cores
        fills a queue that the generator, too, falls behind on, and the search doubles from
        here until a step fails."""
        threads, _ = self.model()
        return round(min(threads or math.inf, self.workers / self.spec.service_s) / 4, 1)

    def estimate(self, start_cost: float) -> float:
        """As the lab's plans estimate theirs, near what the workers serve one at a time (the
        knee's order of magnitude when the CPU binds) instead of the start, a quarter of it."""
        rate = self.workers / self.spec.service_s
        warmup = max(MIN_WARMUP_S, WARMUP_SLOS * self.slo_p99_ms / 1000.0)
        step = warmup + max(LONGEST_LEAST_S, self.step_requests / rate) + 0.5
        return self.repeats * (start_cost + self.calibrate_s + STEPS_EXPECTED * step)


def route_load(route: Route) -> RouteLoad:
    pairs = tuple(sorted(route.extra.items()))
    return RouteLoad(
        method=route.method,
        path=route.path,
        label=route.label,
        status=route.status,
        headers=tuple(sorted(route.headers.items())),
        query=() if route.changes_data else pairs,
        form=pairs if route.changes_data else (),
    )


def service_time(base_url: str, route: Route, samples: int = SERVICE_SAMPLES) -> float:
    """The median of ``samples`` requests one after another on one connection, in seconds."""
    took = []
    with httpx.Client(base_url=base_url, timeout=TIMEOUT) as client:
        request(client, route)  # the connection opened, the view's code paths warm
        for _ in range(samples):
            began = time.perf_counter()
            request(client, route)
            took.append(time.perf_counter() - began)
    return statistics.median(took)


def preflights(
    prepared: Prepared, kinds: list[str], workers: int, note: Callable[[str], None]
) -> dict[tuple[str, str], tuple[Route, float]]:
    """Each kind's pre-flight, before any load: (kind, pattern and method) -> the route as it
    answered, with its service time S there. A wrong answer stops the run (``PreflightFailed``)."""
    found = {}
    for kind in kinds:
        with serve(prepared.shim, prepared.description.wsgi_application, kind, workers) as running:
            checked = preflight(
                running.url,
                prepared.routes,
                prepared.description.login_url,
                own_database=not prepared.shim.uses_copy,
            )
            for c in checked:
                if c.route.skip is None:
                    s = service_time(running.url, c.route)
                    found[kind, c.route.method + " " + c.route.pattern] = (c.route, s)
        skipped = [c for c in checked if c.route.skip]
        reasons = Counter(c.route.skip.split(" (")[0] for c in skipped)
        note(
            f"pre-flight under {kind}: {len(checked) - len(skipped)} route(s) answered as "
            f"expected, {len(skipped)} skipped ("
            + ", ".join(f"{n}: {why}" for why, n in reasons.most_common())
            + ")"
            # Those skipped by what they answered, by name (python -m loadtests.project
            # --list-routes names the others).
            + "".join(
                f"\n    {c.route.method} {c.route.pattern}: {c.route.skip}"
                for c in skipped
                if c.status is not None
            )
        )
    return found


def route_names(routes: dict[str, Route]) -> dict[str, str]:
    """Each route's name in the map: its URL name (its pattern when it has none); when two
    routes share it (Django lets two patterns have one name), their patterns, and when those
    too are one, their methods before them."""
    labels = Counter(route.label for route in routes.values())
    patterns = Counter(route.pattern for route in routes.values())
    return {
        key: route.label
        if labels[route.label] == 1
        else route.pattern
        if patterns[route.pattern] == 1
        else f"{route.method} {route.pattern}"
        for key, route in routes.items()
    }


def route_plans(
    measured: dict[tuple[str, str], tuple[Route, float]],
    kinds: list[str],
    workers: tuple[int, ...],
    threads: int,
    settings: dict,
) -> list[RoutePlan]:
    """One plan per loadable route x kind x worker count: the heaviest route first, each route
    under every kind before the next (a time limit cuts whole routes, last first)."""
    routes = {key: route for (_, key), (route, _) in measured.items()}
    names = route_names(routes)
    order = sorted(routes, key=lambda key: -routes[key].weight)
    plans = []
    for key in order:
        for kind in kinds:
            if (kind, key) not in measured:
                continue
            route, s = measured[kind, key]
            spec = RouteSpec(route_load(route), s, route.is_async)
            for count in workers:
                plans.append(
                    RoutePlan(
                        server=kind,
                        workers=count,
                        threads=threads if kind in WSGI_KINDS else DEFAULT_THREADS,
                        scenario=names[key],
                        route=names[key],
                        route_spec=spec,
                        **settings,
                    )
                )
    return plans


def wait_for_processes(pid: int, workers: int, timeout: float = WORKERS_TIMEOUT_S) -> int:
    """Until the server's process tree holds ``workers`` processes besides its first (uvicorn
    serves one worker in its own process): readiness means one worker answered, not all. The
    count; ``ServerFailed`` when they do not come."""
    if workers == 1:
        return 1
    root = psutil.Process(pid)
    found = wait_until(lambda: len(root.children(recursive=True)) >= workers, timeout, 0.1)
    if not found:
        have = len(root.children(recursive=True))
        raise ServerFailed(f"{have} of {workers} worker processes after {timeout:g} s")
    return len(root.children(recursive=True))


def route_search(
    prepared: Prepared, plan: RoutePlan, ctx: Context, out: Path, db_env: dict, seed: int
) -> tuple[dict, TreeSampler]:
    """One fresh server of the project and one search in Locust (not distributed)."""
    wsgi_app = prepared.description.wsgi_application
    with serve(
        prepared.shim, wsgi_app, plan.server, plan.workers, plan.threads, ctx.ready_timeout
    ) as server:
        wait_for_processes(server.pid, plan.workers)
        if ctx.server_cpus:
            pin_tree(server.pid, ctx.server_cpus)
        ctx.settle()
        gen = dataclasses.replace(
            ctx.generator,
            local_workers=0,
            remote_workers=0,
            env={**ctx.generator.env, ROUTE_ENV: plan.spec.load.to_env()},
        )
        argv = capacity.locust_argv(gen, plan, server.url, out, seed)
        log = out.with_name(f"{out.stem}-locust.log")
        with TreeSampler({"server": server.pid}) as sampler:
            process = generator._start(argv, log, gen)
            try:
                process.wait()
            finally:
                generator.stop_process_group(process, grace=5)
    if not out.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise GeneratorFailed(f"Locust exited with {process.returncode}, no steps:\n{tail}")
    return json.loads(out.read_text()), sampler


def predicted(entry: CapacityEntry, spec: RouteSpec, run: Results) -> RoutePrediction | None:
    """The prediction beside a measured entry: from S (the pre-flight's) and the CPU per
    request near λ* (the search's), as the view is written and if it were async."""
    cpu_ms = entry.limit.cpu_ms_per_request
    if not entry.is_result or not cpu_ms:
        return None
    cost = RouteCost(spec.service_s, cpu_ms / 1000)
    cores = server_cores(entry, run)
    view = ASYNC if spec.is_async else SYNC
    args = (cost, entry.server, entry.workers, entry.threads, cores)
    as_written, if_async = predict(*args, view), predict(*args, ASYNC)
    return RoutePrediction(
        view=view,
        service_ms=round(spec.service_s * 1000, 3),
        cpu_ms=round(cpu_ms, 4),
        as_written_rps=round(as_written.rps, 1),
        as_written_binds=as_written.binds,
        as_written=as_written.arithmetic,
        if_async_rps=round(if_async.rps, 1),
        if_async_binds=if_async.binds,
        if_async=if_async.arithmetic,
    )


def run_phase(config, ctx: Context, record: Results, save, note) -> int:
    """The project's capacity map; 1 if a search failed, or if the project could not be served
    or a route answered wrongly before any load (the run's notes say which, with the answer)."""
    kinds = list(config.servers or PROJECT_KINDS)
    workers = tuple(config.workers or WORKERS.get(config.profile, WORKERS["default"]))
    threads = config.threads or DEFAULT_THREADS
    record.meta.notes.append(f"the project measured: {config.app.resolve()}")
    try:
        prepared = prepare(config.app, routes_file=config.routes, fixtures=tuple(config.fixture))
        measured = preflights(prepared, kinds, min(workers), note)
    except ProjectError as error:  # a wrong answer before any load stops the run, with it
        record.meta.notes.append(f"the project was not measured: {error}")
        note(f"the project was not measured: {error}")
        save()
        return 1
    settings = QUICK | {"delay": 0.0, "repeats": config.capacity_repeats or 1}
    settings |= {"slo_ms": config.slo_ms} if config.slo_ms else {}
    settings |= SHORT_SEARCH if config.profile == "smoke" else {}
    plans = route_plans(measured, kinds, workers, threads, settings)
    if not plans:
        note("no route of the project can be loaded: nothing to map")
        return 1
    for plan in plans:
        s_ms = plan.spec.service_s * 1000
        note(f"capacity {plan.key}: S {s_ms:.2f} ms, SLO p99 {plan.slo_p99_ms:g} ms")
    limit = config.capacity_time_limit or TIME_LIMITS.get(config.profile, TIME_LIMITS["default"])
    code = capacity.run_phase(
        config.profile,
        ctx,
        record,
        save,
        note,
        limit,
        config.capacity_match,
        plans=plans,
        search=functools.partial(route_search, prepared),
    )
    specs = {plan.key: plan.spec for plan in plans}
    for entry in record.capacity:
        if entry.key in specs:
            entry.prediction = predicted(entry, specs[entry.key], record)
            if entry.prediction:
                p = entry.prediction
                note(
                    f"capacity {entry.key}: predicted {p.as_written_rps:,.0f} req/s as written "
                    f"({p.as_written_binds}), {p.if_async_rps:,.0f} if async ({p.if_async_binds})"
                )
    save()
    return code
