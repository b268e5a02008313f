"""``python -m loadtests.project APP``: the project's environment, shim and copy made ready, its
routes listed (``--list-routes``) or each checked under every server kind the lab measures it
with, and ``/metrics`` shown to count each request once."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from . import environment, routes, shim
from .discover import Description, ProjectError, describe, discover, run_probe
from .preflight import Checked, preflight, request, served_counts
from .servers import PROJECT_KINDS, serve

# Requests each loadable route gets after its pre-flight, spread over fresh connections so every
# worker serves some, to check that /metrics counts each exactly once.
COUNT_CHECK_REQUESTS = 20
COUNT_CHECK_CONCURRENCY = 4


@dataclass(frozen=True)
class Prepared:
    description: Description
    shim: shim.Shim
    routes: list[routes.Route]


def prepare(
    root: Path,
    settings: str | None = None,
    requirements: Path | None = None,
    routes_file: Path | None = None,
    fixtures: tuple[str, ...] = (),
) -> Prepared:
    """Everything up to serving: environment, description, shim and copy, routes with values."""
    project = discover(root, settings, requirements)
    built = environment.build(project)
    description = describe(built.python, project)
    installed = shim.install(built, project, description, fixtures)
    found = routes.read(routes_file) if routes_file else routes.discovered(description)
    found = routes.with_url_facts(found, description)
    wanted = routes.needing_values(found)
    answers = (
        run_probe(built.python, project, "values", shim.SETTINGS, stdin=wanted) if wanted else {}
    )
    return Prepared(description, installed, routes.with_values(found, answers))


def describe_route(route: routes.Route) -> str:
    where = "; ".join(
        f"{name}={route.values[name]} from {source}" for name, source in route.values_from.items()
    )
    status = (
        f"skipped: {route.skip}" if route.skip else f"expects {route.status}, weight {route.weight}"
    )
    parts = [f"{route.method:6} {route.pattern:32} {route.label:24} {status}"]
    if where:
        parts.append(f"    values: {where}")
    return "\n".join(parts)


def count_check(base_url: str, checked: list[Checked], repeats: int) -> None:
    """``repeats`` more requests to each loadable route; ``/metrics`` must count them all, and
    every request of the pre-flight, once each, whatever worker served them."""
    answered = [c.route for c in checked if c.status is not None]

    def one(route: routes.Route) -> None:
        with httpx.Client(base_url=base_url) as client:
            request(client, route)

    loadable = [c.route for c in checked if c.route.skip is None]
    with ThreadPoolExecutor(COUNT_CHECK_CONCURRENCY) as pool:
        list(pool.map(one, [r for r in loadable for _ in range(repeats)]))
    sent = Counter((r.pattern, r.method) for r in answered)
    sent.update((r.pattern, r.method) for r in loadable for _ in range(repeats))
    counted = served_counts(base_url)
    wrong = {key: (n, counted.get(key, 0)) for key, n in sent.items() if counted.get(key, 0) != n}
    if wrong:
        raise ProjectError(
            "/metrics did not count each request once: "
            + ", ".join(f"{m} {p}: sent {s}, counted {c}" for (p, m), (s, c) in wrong.items())
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.project", description=__doc__)
    parser.add_argument("app", type=Path, help="the Django project's directory")
    parser.add_argument("--settings", help="its settings module (default: from manage.py)")
    parser.add_argument("--requirements", type=Path, help="requirements.txt or pyproject.toml")
    parser.add_argument("--routes", type=Path, help="a routes file (docs/YOUR_APP.md)")
    parser.add_argument("--fixture", action="append", default=[], help="loaddata into the copy")
    parser.add_argument("--list-routes", action="store_true", help="list the routes and stop")
    parser.add_argument("--servers", nargs="+", choices=PROJECT_KINDS, default=PROJECT_KINDS)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        prepared = prepare(
            args.app, args.settings, args.requirements, args.routes, tuple(args.fixture)
        )
        print(f"environment: {prepared.shim.environment.directory}")
        copies = ", ".join(f"{a} -> {p}" for a, p in prepared.shim.databases.items())
        print("database:", f"a copy: {copies}" if copies else "the project's own")
        for route in prepared.routes:
            print(describe_route(route))
        if args.list_routes:
            return
        for kind in args.servers:
            with serve(
                prepared.shim, prepared.description.wsgi_application, kind, args.workers
            ) as running:
                checked = preflight(
                    running.url,
                    prepared.routes,
                    prepared.description.login_url,
                    own_database=not prepared.shim.uses_copy,
                )
                count_check(running.url, checked, COUNT_CHECK_REQUESTS)
            answered = sum(c.route.skip is None for c in checked)
            print(
                f"{kind} ({args.workers} workers): {answered} routes answered as expected,"
                f" {len(checked) - answered} skipped; /metrics counted each request once"
            )
            # Skipped by what they answered (the listing above names the others).
            for c in checked:
                if c.route.skip and c.status is not None:
                    print(f"    skipped {c.route.method} {c.route.pattern}: {c.route.skip}")
    except ProjectError as exc:
        sys.exit(f"python -m loadtests.project: {exc}")
