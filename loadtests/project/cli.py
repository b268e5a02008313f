"""``python -m loadtests.project APP``: the project's environment, shim and copy made ready, its
routes listed (``--list-routes``) or each checked under every server kind the lab measures it
with, and ``/metrics`` shown to count each request once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import environment, routes, shim
from .discover import ProjectError, discover
from .preflight import COUNT_CHECK_REQUESTS, count_check, preflight
from .servers import PROJECT_KINDS, serve


@dataclass(frozen=True)
class Prepared:
    description: shim.Description
    shim: shim.Shim
    routes: list[routes.Route]


def prepare(
    root: Path,
    settings: str | None = None,
    requirements: Path | None = None,
    routes_file: Path | None = None,
    fixtures: tuple[str, ...] = (),
) -> Prepared:
    """Everything up to serving: environment, shim and copy, routes with their values."""
    project = discover(root, settings, requirements)
    installed, description = shim.install(environment.build(project), project, fixtures)
    found = routes.read(routes_file) if routes_file else None
    return Prepared(description, installed, routes.resolved(found, description))


def describe_route(route: routes.Route) -> str:
    status = (
        f"skipped: {route.skip}" if route.skip else f"expects {route.status}, weight {route.weight}"
    )
    line = f"{route.method:6} {route.pattern:32} {route.label:24} {status}"
    sources = [f"{name}={route.values[name]} from {s}" for name, s in route.values_from.items()]
    return line + (f"\n    values: {'; '.join(sources)}" if sources else "")


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
        print(*map(describe_route, prepared.routes), sep="\n")
        if args.list_routes:
            return
        for kind in args.servers:
            wsgi_app = prepared.description.wsgi_application
            with serve(prepared.shim, wsgi_app, kind, args.workers) as running:
                login_url, own = prepared.description.login_url, not prepared.shim.uses_copy
                checked = preflight(running.url, prepared.routes, login_url, own_database=own)
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
