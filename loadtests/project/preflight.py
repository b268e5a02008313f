"""Before any load: each route requested on the live server, its answer checked; then
``/metrics`` shown to count each request once (``count_check``).

A route that answers anything but its expected status stops the run with the answer it got. A
route that cannot be loaded as it is (it needs a login or a CSRF token, or it would change the
project's own database) is skipped with the reason: that is the route's nature, not a failure
of the server.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mysite.metrics import names

from .discover import ProjectError
from .routes import Route

# How much of a wrong answer's body the error shows.
BODY_SHOWN = 500
TIMEOUT = 30.0
# Requests each loadable route gets after its pre-flight, spread over fresh connections so every
# worker serves some, to check that /metrics counts each exactly once.
COUNT_CHECK_REQUESTS = 20
COUNT_CHECK_CONCURRENCY = 4


class PreflightFailed(ProjectError):
    """A route answered something other than its expected status; the message shows it."""


@dataclass(frozen=True)
class Checked:
    route: Route
    status: int | None  # None: not requested (skipped)


def request(client: httpx.Client, route: Route) -> httpx.Response:
    data = {"params": route.extra} if not route.changes_data else {"data": route.extra}
    return client.request(route.method, route.path, headers=route.headers, **data)


def preflight(
    base_url: str, routes: list[Route], login_url: str, own_database: bool
) -> list[Checked]:
    """Request each route once; the routes with what they answered, skipped ones with why."""
    checked = []
    with httpx.Client(base_url=base_url, timeout=TIMEOUT) as client:
        for route in routes:
            if route.changes_data and own_database and not route.skip:
                route = replace(route, skip="changes data: only a copy of the database may")
            if route.skip:
                checked.append(Checked(route, None))
                continue
            response = request(client, route)
            if response.status_code != route.status:
                reason = _not_loadable(route, response, login_url)
                if reason is None:
                    location = response.headers.get("location")
                    raise PreflightFailed(
                        f"{route.method} {route.path} ({route.label}) answered "
                        f"{response.status_code}, expected {route.status}:\n"
                        + (f"location: {location}\n" if location else "")
                        + response.text[:BODY_SHOWN]
                    )
                route = replace(route, skip=reason)
            checked.append(Checked(route, response.status_code))
    return checked


def _not_loadable(route: Route, response: httpx.Response, login_url: str) -> str | None:
    location = httpx.URL(response.headers.get("location", ""))
    # Django's redirect_to_login (login_required, the admin) sends the page back as ``next``.
    if response.is_redirect and (
        location.path == httpx.URL(login_url).path or location.params.get("next") == route.path
    ):
        return f"needs a login (redirected to {location})"
    if response.status_code == 403 and b"CSRF" in response.content:
        return "needs a CSRF token"
    return None


def served_counts(base_url: str) -> Counter[tuple[str, str]]:
    """Requests the server counted, by (route, method), from its ``/metrics`` (all workers)."""
    text = httpx.get(f"{base_url}/metrics", timeout=TIMEOUT).raise_for_status().text
    counts: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == names.SERVER_DURATION + "_count":
                key = (sample.labels[names.ROUTE], sample.labels[names.METHOD])
                counts[key] += int(sample.value)
    return counts


def count_check(base_url: str, checked: list[Checked], repeats: int) -> None:
    """``repeats`` more requests to each loadable route; ``/metrics`` must count them all, and
    every request of the pre-flight, once each, whatever worker served them."""
    loadable = [c.route for c in checked if c.route.skip is None]

    def one(route: Route) -> None:
        with httpx.Client(base_url=base_url, timeout=TIMEOUT) as client:
            request(client, route)

    with ThreadPoolExecutor(COUNT_CHECK_CONCURRENCY) as pool:
        list(pool.map(one, loadable * repeats))
    sent = Counter((c.route.pattern, c.route.method) for c in checked if c.status is not None)
    sent.update((r.pattern, r.method) for r in loadable * repeats)
    counted = served_counts(base_url)
    wrong = [
        f"{m} {p}: sent {n}, counted {counted[p, m]}"
        for (p, m), n in sent.items()
        if counted[p, m] != n
    ]
    if wrong:
        raise ProjectError("/metrics did not count each request once: " + ", ".join(wrong))
