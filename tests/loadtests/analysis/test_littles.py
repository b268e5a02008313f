"""Little's law on a closed loop's own data: its tolerance and its flag."""

from loadtests.analysis import littles


def test_littles_law_tolerance_separates_staggered_from_lockstep():
    users, requests = 32, 320
    tol = littles.tolerance(users, requests, cv=0.02)
    assert 0.5 < tol < 3, tol
    assert littles.flag(users, 32.4, tol) is None
    assert littles.flag(users, 33.1 + tol, tol) == "concurrency-above-users"
    assert littles.flag(users, 20.0, tol) is None, "below: users between requests, not an error"
    assert littles.outside_share(users, 24.0) == 0.25
    assert littles.tolerance(users, 3200, 0.02) < tol, "more requests, a tighter check"
