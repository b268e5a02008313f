"""Cases run at once: a module whose cases mostly wait (on a graceful stop, a hung server, a
soak's clock, servers starting) runs them side by side in a module fixture, each in its own
thread, and each test checks its own case's outcome. A case starts and stops its processes within
its own run: a server started in a thread dies with the thread (``mysite.launcher.die_with_parent``:
Linux sends the parent-death signal when the thread that forked the child ends), so a server
that outlives its case must be started by the test's own thread.

    @pytest.fixture(scope="module")
    def stops(request):
        return side_by_side(stop_under_load, selected_cases(request, "stops", "kind"))

    def test_stop(kind, stops):
        stop = outcome(stops[kind])
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest


def selected_cases(request: pytest.FixtureRequest, fixture: str, param: str, default=None) -> list:
    """The ``param`` of each of this module's selected tests that reads ``fixture`` (``default``
    for one not parametrized by it), in order, once each: the cases to run (all of them under
    ``make test``, fewer under ``-k``)."""
    found = []
    for item in request.session.items:
        if getattr(item, "module", None) is request.module and fixture in item.fixturenames:
            callspec = getattr(item, "callspec", None)
            found.append(callspec.params.get(param, default) if callspec else default)
    return list(dict.fromkeys(found))


def side_by_side[T, R](run: Callable[[T], R], cases: list[T]) -> dict[T, R | BaseException]:
    """``run(case)`` for every case at once, each in its own thread: its result, or what it
    raised (``outcome`` raises it in the case's test)."""
    with ThreadPoolExecutor(max(1, len(cases))) as pool:
        futures = {case: pool.submit(run, case) for case in cases}
    return {case: future.exception() or future.result() for case, future in futures.items()}


def outcome[R](found: R | BaseException) -> R:
    """A case's result, or what it raised, raised again in its test."""
    if isinstance(found, BaseException):
        raise found
    return found
