"""``make bench APP=<dir>``: the capacity map of a Django project of the user's, route by route.

The project is made ready once (``loadtests.project.cli.prepare``: its environment, the lab's
settings shim, the copy of its database, its routes). Then, before any load, each server kind
serves it once: every route is requested (the pre-flight, which stops the run on a wrong answer
and skips a route that needs a login or a CSRF token) and each loadable route
``SERVICE_SAMPLES`` more times, one after another on one connection: their median is the
route's service time S under that kind (``prepared_routes``, before the closed-loop cells that
``sweep.main`` plans from ``route_specs``, and the map). Then one capacity plan per loadable
route x kind x worker count, its ``route`` a ``plan.ProjectRoute``, searched like the lab's own
configurations (``sweep.capacity``), which predicts beside each λ* what S and the measured CPU
per request say.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

import httpx

from loadtests.analysis.results import Results
from loadtests.project.cli import Prepared, prepare
from loadtests.project.discover import ProjectError
from loadtests.project.preflight import TIMEOUT, preflight, request
from loadtests.project.routes import Route
from loadtests.project.servers import PROJECT_KINDS, serve
from loadtests.scenarios import ASYNC, SLEEP, SYNC, RouteLoad
from mysite.launcher import DEFAULT_THREADS
from mysite.servers import WSGI_KINDS

from . import capacity
from .capacity_plan import QUICK, CapacityPlan, ProjectRoute
from .cell import Context

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


def route_specs(
    measured: dict[tuple[str, str], tuple[Route, float]], project: Prepared | None = None
) -> list[tuple[str, ProjectRoute]]:
    """Each loadable route as a scenario under each kind it was measured under: the heaviest
    route first, each route under every kind before the next (a time limit cuts whole routes,
    last first)."""
    routes = {key: route for (_, key), (route, _) in measured.items()}
    names = route_names(routes)
    kinds = dict.fromkeys(kind for kind, _ in measured)
    specs = []
    for key in sorted(routes, key=lambda key: -routes[key].weight):
        for kind in kinds:
            if (kind, key) not in measured:
                continue
            route, s = measured[kind, key]
            load, view = route_load(route), ASYNC if route.is_async else SYNC
            args = (names[key], load.user_class, route.pattern, SLEEP, view, names[key])
            specs.append((kind, ProjectRoute(*args, service_s=s, load=load, project=project)))
    return specs


def route_plans(
    measured: dict[tuple[str, str], tuple[Route, float]],
    kinds: list[str],
    workers: tuple[int, ...],
    threads: int,
    settings: dict,
    project: Prepared | None = None,
) -> list[CapacityPlan]:
    """One plan per loadable route x kind x worker count, in ``route_specs``' order."""
    return [
        CapacityPlan(
            server=kind,
            workers=count,
            threads=threads if kind in WSGI_KINDS else DEFAULT_THREADS,
            scenario=spec.name,
            route=spec,
            **settings,
        )
        for kind, spec in route_specs(measured, project)
        if kind in kinds
        for count in workers
    ]


class ProjectRoutes(NamedTuple):
    """The project made ready, and its routes as each kind answered them before any load."""

    prepared: Prepared
    measured: dict[tuple[str, str], tuple[Route, float]]


def kinds_and_workers(config) -> tuple[list[str], tuple[int, ...]]:
    kinds = list(config.servers or PROJECT_KINDS)
    return kinds, tuple(config.workers or WORKERS.get(config.profile, WORKERS["default"]))


def prepared_routes(config, record: Results, save, note) -> ProjectRoutes | None:
    """The project made ready and each kind's pre-flight; None (the run's notes say why) if the
    project could not be served or a route answered wrongly before any load."""
    kinds, workers = kinds_and_workers(config)
    record.meta.notes.append(f"the project measured: {config.app.resolve()}")
    try:
        prepared = prepare(config.app, routes_file=config.routes, fixtures=tuple(config.fixture))
        return ProjectRoutes(prepared, preflights(prepared, kinds, min(workers), note))
    except ProjectError as error:  # a wrong answer before any load stops the run, with it
        record.meta.notes.append(f"the project was not measured: {error}")
        note(f"the project was not measured: {error}")
        save()
        return None


def run_phase(config, project: ProjectRoutes, ctx: Context, record: Results, save, note) -> int:
    """The project's capacity map (``prepared_routes``); 1 if a search failed."""
    kinds, workers = kinds_and_workers(config)
    threads = config.threads or DEFAULT_THREADS
    prepared, measured = project
    settings = QUICK | {"delay": 0.0, "repeats": config.capacity_repeats or 1}
    settings |= {"slo_ms": config.slo_ms} if config.slo_ms else {}
    settings |= SHORT_SEARCH if config.profile == "smoke" else {}
    plans = route_plans(measured, kinds, workers, threads, settings, prepared)
    if not plans:
        note("no route of the project can be loaded: nothing to map")
        return 1
    for plan in plans:
        s_ms = plan.service_s * 1000
        note(f"capacity {plan.key}: S {s_ms:.2f} ms, SLO p99 {plan.slo_p99_ms:g} ms")
    limit = config.capacity_time_limit or TIME_LIMITS.get(config.profile, TIME_LIMITS["default"])
    return capacity.run_phase(
        config.profile, ctx, record, save, note, limit, config.capacity_match, plans=plans
    )
