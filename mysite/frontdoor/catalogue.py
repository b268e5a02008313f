"""What ``/`` says about each route: generated from the URLconf and the parameter constants, so
that a route added or a bound changed shows up here by itself. Written by hand, keyed by the
route's URL name: a one-line summary, the parameters the view reads, and the load scenarios that
measure it (the app never imports its measurers; ``tests/frontdoor`` checks these names against
``loadtests.scenarios``). A route without an entry is listed as undocumented (and a test fails)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

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


@dataclass(frozen=True)
class Entry:
    summary: str
    parameters: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()  # the Locust scenarios (loadtests.scenarios) that load it
    swept: bool = True  # whether `make bench` sweeps those scenarios


_DB = ("delay", "rows")
ENTRIES: dict[str, Entry] = {
    FRONT_DOOR: Entry("this page"),
    "sync-api": Entry("sync view: a blocking sleep of `delay`", _SLEEP, ("sync-api",)),
    "async-api": Entry("async view: await asyncio.sleep(delay)", _SLEEP, ("async-api",)),
    "async-blocking": Entry(
        "the anti-pattern: time.sleep inside an async view", _SLEEP, ("async-blocking",)
    ),
    "async-aggregated": Entry(
        "async fan-out: `fanout` upstream calls at once",
        _FANOUT,
        ("async-fanout", "async-fanout-httpx"),
    ),
    "async-aggregate-sync-view": Entry("the async fan-out under its other published name", _FANOUT),
    "sync-aggregated": Entry("sync fan-out through a thread pool", _FANOUT, ("thread-fanout",)),
    "sync-sequential": Entry(
        "the same calls one after another: the baseline", _FANOUT, ("sequential",)
    ),
    "sync-db": Entry("sync ORM query that waits `delay` in PostgreSQL", _DB, ("sync-db",)),
    "async-db": Entry("the same through Django's async ORM (a thread each)", _DB, ("async-db",)),
    "async-db-native": Entry(
        "the same through django-async-backend (ASGI only)", _DB, ("async-db-native",)
    ),
    "healthz": Entry("200 when this worker can serve"),
    "metrics": Entry("Prometheus exposition, merged across workers"),
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


def commands_for(entry: Entry) -> tuple[str, ...]:
    """The commands that measure a route: its Locust scenarios and, when swept, the sweep."""
    commands = []
    for name in entry.scenarios:
        commands.append(f"make locust SCENARIO={name}")
        if entry.swept:
            commands.append(f'make bench BENCH_ARGS="--scenarios {name}"')
    return tuple(commands)


def routes(urlconf: str | None = None) -> list[Route]:
    """Every route of the URLconf, in its order."""
    listed = []
    for path, name in _walk(get_resolver(urlconf).url_patterns):
        entry = ENTRIES.get(name)
        if entry is None:
            listed.append(Route(path, name, None, (), ()))
            continue
        parameters = tuple(PARAMETERS[p] for p in entry.parameters)
        listed.append(Route(path, name, entry.summary, parameters, commands_for(entry)))
    return listed


def undocumented(urlconf: str | None = None) -> list[str]:
    return [route.path for route in routes(urlconf) if route.summary is None]
