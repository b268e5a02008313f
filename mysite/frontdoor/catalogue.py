"""What ``/`` says about each route: generated from the URLconf, the parameter constants and the
load scenarios, so that a route added, a bound changed or a scenario renamed shows up here by
itself. Only each route's one-line summary is written by hand, keyed by the route's URL name; a
route without one is listed as undocumented (and a test fails)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

from loadtests.scenarios import DB_SCENARIOS, SCENARIOS
from mysite.db.params import DEFAULT_ROWS, MAX_ROWS
from mysite.demo.params import (
    DEFAULT_DELAY,
    DEFAULT_FANOUT,
    MAX_DELAY,
    MAX_FANOUT,
    MAX_TASK_ID_LENGTH,
)

FRONT_DOOR = "front-door"  # this view's own URL name


@dataclass(frozen=True)
class Parameter:
    name: str
    rule: str


PARAMETERS = {
    p.name: p
    for p in (
        Parameter("delay", f"seconds to wait, 0 to {MAX_DELAY:g}, default {DEFAULT_DELAY:g}"),
        Parameter("fanout", f"upstream calls, 1 to {MAX_FANOUT}, default {DEFAULT_FANOUT}"),
        Parameter("task_id", f"optional text echoed back, at most {MAX_TASK_ID_LENGTH} characters"),
        Parameter("rows", f"rows to read, 1 to {MAX_ROWS}, default {DEFAULT_ROWS}"),
    )
}
_SLEEP = ("delay", "task_id")
_FANOUT = ("delay", "fanout", "task_id")
_DB = ("delay", "rows")

# URL name -> (summary, parameters). The only hand-written part.
SUMMARIES: dict[str, tuple[str, tuple[str, ...]]] = {
    FRONT_DOOR: ("this page", ()),
    "sync-api": ("sync view: a blocking sleep of `delay`", _SLEEP),
    "async-api": ("async view: await asyncio.sleep(delay)", _SLEEP),
    "async-blocking": ("the anti-pattern: time.sleep inside an async view", _SLEEP),
    "async-aggregated": ("async fan-out: `fanout` upstream calls at once", _FANOUT),
    "async-aggregate-sync-view": ("the async fan-out under its other published name", _FANOUT),
    "sync-aggregated": ("sync fan-out through a thread pool", _FANOUT),
    "sync-sequential": ("the same calls one after another: the baseline", _FANOUT),
    "sync-db": ("sync ORM query that waits `delay` in PostgreSQL", _DB),
    "async-db": ("the same through Django's async ORM (a thread each)", _DB),
    "async-db-native": ("the same through django-async-backend (ASGI only)", _DB),
    "healthz": ("200 when this worker can serve", ()),
    "metrics": ("Prometheus exposition, merged across workers", ()),
}


@dataclass(frozen=True)
class Route:
    path: str
    name: str | None
    summary: str | None  # None: nobody described it yet
    parameters: tuple[Parameter, ...]
    commands: tuple[str, ...]

    def example(self) -> str:
        """A link with every parameter at the load's values, so a click returns quickly."""
        query = {"delay": "0.2", "fanout": "5", "rows": "3", "task_id": "1"}
        pairs = [f"{p.name}={query[p.name]}" for p in self.parameters]
        return self.path + ("?" + "&".join(pairs) if pairs else "")


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield "/" + prefix + str(entry.pattern), entry.name


def commands_for(path: str) -> tuple[str, ...]:
    """The commands that measure a path: a Locust scenario and, when the sweep has it, a sweep."""
    commands = []
    for name, scenario in {**SCENARIOS, **DB_SCENARIOS}.items():
        if scenario.path == path:
            commands.append(f"make locust SCENARIO={name}")
            if name in SCENARIOS:
                commands.append(f'make bench BENCH_ARGS="--scenarios {name}"')
    return tuple(commands)


def routes(urlconf: str | None = None) -> list[Route]:
    """Every route of the URLconf, in its order."""
    listed = []
    for path, name in _walk(get_resolver(urlconf).url_patterns):
        summary, params = SUMMARIES.get(name, (None, ()))
        parameters = tuple(PARAMETERS[p] for p in params)
        listed.append(Route(path, name, summary, parameters, commands_for(path)))
    return listed


def undocumented(urlconf: str | None = None) -> list[str]:
    return [route.path for route in routes(urlconf) if route.summary is None]
