"""The routes a project is measured on: from a routes file, or discovered from its URLconf.

A routes file holds one route a line, ``METHOD PATH [status=N] [weight=N] [name=value ...]
[Header-Name:value ...]`` (``#`` starts a comment; quote with shell rules); docs/YOUR_APP.md
says what each token does.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

from mysite.errors import SAFE_METHODS

from .django_async_lab.probe import PARAMETER
from .shim import Description

DEFAULT_STATUS = 200
DEFAULT_WEIGHT = 1
METHODS = frozenset({*SAFE_METHODS, "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
RESERVED = ("status", "weight")
# Where a parameter's value came from, as --list-routes says it.
FROM_FILE = "the routes file"


class RoutesError(ValueError):
    """A routes file line that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # the URL pattern, as the metrics' http_route label spells it
    values: dict[str, str] = field(default_factory=dict)  # path parameters
    extra: dict[str, str] = field(default_factory=dict)  # query string or form body
    headers: dict[str, str] = field(default_factory=dict)
    status: int = DEFAULT_STATUS
    weight: int = DEFAULT_WEIGHT
    name: str | None = None  # the URL name, when the URLconf gives one
    values_from: dict[str, str] = field(default_factory=dict)  # parameter -> where its value came
    skip: str | None = None  # why the lab will not load it (a CSRF token, a login), else None
    is_async: bool = False  # its view is async (the prediction's "as written")

    @property
    def parameters(self) -> list[str]:
        return [m["name"] for m in PARAMETER.finditer(self.pattern)]

    @property
    def path(self) -> str:
        """The concrete path; a parameter without a value is a ``RoutesError``."""
        missing = [p for p in self.parameters if p not in self.values]
        if missing:
            raise RoutesError(f"{self.pattern}: no value for {', '.join(missing)}")
        return PARAMETER.sub(lambda m: self.values[m["name"]], self.pattern)

    @property
    def label(self) -> str:
        """What the report calls it: its URL name, else its pattern."""
        return self.name or self.pattern

    @property
    def changes_data(self) -> bool:
        return self.method not in SAFE_METHODS


def parse_line(line: str, where: str) -> Route | None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise RoutesError(f"{where}: {exc}") from None
    if not tokens:
        return None
    if len(tokens) < 2:
        raise RoutesError(f"{where}: a route is METHOD PATH [...], got {line.strip()!r}")
    method, pattern, *rest = tokens
    method = method.upper()
    if method not in METHODS:
        raise RoutesError(f"{where}: unknown method {method!r}")
    if not pattern.startswith("/"):
        raise RoutesError(f"{where}: the path must start with '/', got {pattern!r}")
    names = {m["name"] for m in PARAMETER.finditer(pattern)}
    numbers = {"status": DEFAULT_STATUS, "weight": DEFAULT_WEIGHT}
    values, extra, headers = {}, {}, {}
    for token in rest:
        key, colon, _ = token.partition(":")
        if colon and "=" not in key:
            headers[key] = token.partition(":")[2].strip()
            continue
        name, equals, value = token.partition("=")
        if not equals or not name:
            raise RoutesError(f"{where}: expected name=value or Header:value, got {token!r}")
        if name in RESERVED:
            if not value.isdigit() or (name == "weight" and int(value) == 0):
                raise RoutesError(f"{where}: {name} must be a positive integer, got {value!r}")
            numbers[name] = int(value)
        elif name in names:
            values[name] = value
        else:
            extra[name] = value
    from_file = dict.fromkeys(values, FROM_FILE)
    return Route(method, pattern, values, extra, headers, **numbers, values_from=from_file)


def parse(text: str, source: str = "routes") -> list[Route]:
    routes = [
        route
        for number, line in enumerate(text.splitlines(), start=1)
        if (route := parse_line(line, f"{source}:{number}")) is not None
    ]
    if not routes:
        raise RoutesError(f"{source}: no routes")
    return routes


def read(path: Path) -> list[Route]:
    return parse(path.read_text(), str(path))


def resolved(routes: list[Route] | None, description: Description) -> list[Route]:
    """The file's routes, else every route of the URLconf as a ``GET`` expecting 200 (a redirect
    view: its redirect; a view that does not answer GET skipped; a regular-expression pattern
    left to the file), each with what Django says of its view (``_with_facts``)."""
    facts = {entry["pattern"]: entry for entry in description.routes}
    if routes is None:
        routes = [
            Route(
                "GET", pattern, status=entry.get("status") or DEFAULT_STATUS, skip=_not_get(entry)
            )
            for pattern, entry in facts.items()
        ]
    return [_with_facts(route, facts.get(route.pattern, {})) for route in routes]


def _not_get(entry: dict) -> str | None:
    methods = entry.get("methods")
    if methods is None or "GET" in methods:
        return None
    return f"answers only {', '.join(methods)}: name it in a routes file"


def _with_facts(route: Route, facts: dict) -> Route:
    """The route with its URL name, whether its view is async, the values the copy's first row
    gives the parameters the file left out (the probe's), and, when it cannot be loaded as it
    is, why: a login, a CSRF token for a data-changing request, a parameter with no value."""
    rows = facts.get("values") or {"values": {}, "source": {}, "error": "no view found for it"}
    values = {**rows["values"], **route.values}
    missing = [p for p in route.parameters if p not in values]
    skip = (
        route.skip
        or ("needs a login" if facts.get("login") else None)
        or ("needs a CSRF token" if facts.get("csrf") and route.changes_data else None)
        or (
            f"no value for {', '.join(missing)}: {rows['error']}; give it in a routes file"
            if missing
            else None
        )
    )
    return replace(
        route,
        name=route.name or facts.get("name"),
        values=values,
        values_from={**rows["source"], **route.values_from},
        skip=skip,
        is_async=bool(facts.get("is_async")),
    )
