"""The routes a project is measured on: from a routes file, or discovered from its URLconf.

A routes file holds one route a line (``#`` starts a comment; quote with shell rules)::

    METHOD PATH [status=N] [weight=N] [name=value ...] [Header-Name:value ...]

``PATH`` is a URL pattern as the URLconf spells it (``/articles/<int:pk>/``) or a concrete
path. A ``name=value`` fills the path's ``<converter:name>``; any other goes to the query string
(``GET``, ``HEAD``) or the form-encoded body (other methods). ``status`` (default 200) is the
answer the route must give before the load begins; ``weight`` (default 1) its share of the
load. A token whose text before its first ``:`` has no ``=`` is a header.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from mysite.errors import SAFE_METHODS

from .discover import Description

DEFAULT_STATUS = 200
DEFAULT_WEIGHT = 1
METHODS = frozenset({*SAFE_METHODS, "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
RESERVED = ("status", "weight")
PLACEHOLDER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
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
        return [m["name"] for m in PLACEHOLDER.finditer(self.pattern)]

    @property
    def path(self) -> str:
        """The concrete path; a parameter without a value is a ``RoutesError``."""
        missing = [p for p in self.parameters if p not in self.values]
        if missing:
            raise RoutesError(f"{self.pattern}: no value for {', '.join(missing)}")
        return PLACEHOLDER.sub(lambda m: self.values[m["name"]], self.pattern)

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
    names = {m["name"] for m in PLACEHOLDER.finditer(pattern)}
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
    return Route(
        method,
        pattern,
        values,
        extra,
        headers,
        numbers["status"],
        numbers["weight"],
        values_from=dict.fromkeys(values, FROM_FILE),
    )


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


def discovered(description: Description) -> list[Route]:
    """Every route of the URLconf as a ``GET`` expecting 200 (a redirect view: its redirect); a
    view that does not answer GET is skipped, a regular-expression pattern left to the file."""
    routes = []
    for entry in description.routes:
        if entry["pattern"] is None:
            continue
        methods = entry.get("methods")
        skip = None
        if methods is not None and "GET" not in methods:
            skip = f"answers only {', '.join(methods)}: name it in a routes file"
        status = entry.get("status") or DEFAULT_STATUS
        routes.append(Route("GET", entry["pattern"], status=status, name=entry["name"], skip=skip))
    return routes


def with_url_facts(routes: Iterable[Route], description: Description) -> list[Route]:
    """Each route with its URL name and, when it cannot be loaded as it is, why: a view that
    needs a login, or a data-changing request that needs a CSRF token."""
    facts = {entry["pattern"]: entry for entry in description.routes if entry["pattern"]}
    result = []
    for route in routes:
        entry = facts.get(route.pattern, {})
        skip = None
        if entry.get("login"):
            skip = "needs a login"
        elif entry.get("csrf") and route.changes_data:
            skip = "needs a CSRF token"
        result.append(
            replace(
                route,
                name=route.name or entry.get("name"),
                skip=route.skip or skip,
                is_async=bool(entry.get("is_async")),
            )
        )
    return result


def with_values(routes: Iterable[Route], answers: dict[str, dict]) -> list[Route]:
    """Fill the parameters the file left out with the copy's values (``probe values``); a route
    still missing one is skipped with the probe's reason."""
    result = []
    for route in routes:
        missing = [p for p in route.parameters if p not in route.values]
        if not missing or route.skip:
            result.append(route)
            continue
        answer = answers.get(route.pattern, {"error": "not asked"})
        if "error" in answer:
            reason = (
                f"no value for {', '.join(missing)}: {answer['error']}; give it in a routes file"
            )
            result.append(replace(route, skip=reason))
            continue
        values = {**answer["values"], **route.values}
        values_from = {**answer["source"], **route.values_from}
        result.append(replace(route, values=values, values_from=values_from))
    return result


def needing_values(routes: Iterable[Route]) -> list[dict]:
    """What to ask ``probe values`` for."""
    return [
        {"pattern": r.pattern, "parameters": [p for p in r.parameters if p not in r.values]}
        for r in routes
        if not r.skip and any(p not in r.values for p in r.parameters)
    ]
