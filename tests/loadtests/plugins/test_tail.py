"""The tail's statistics: Wilson's interval of a share, the comparison of two shares."""

from __future__ import annotations

import numpy as np

from loadtests.plugins.tail import (
    requests_to_bound,
    two_share_z,
    wilson_interval,
)


def test_wilson_interval_of_a_share():
    low, high = wilson_interval(10, 1000)
    assert low < 0.01 < high  # 1% observed: 1% is inside
    assert wilson_interval(25, 1000)[0] > 0.01  # 2.5% of 1000: clearly over 1%
    assert wilson_interval(0, 1000)[1] < 0.01  # none of 1000: clearly within 1%
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_interval_covers_the_true_share_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    share, n = 0.01, 2000
    covered = [
        low <= share <= high
        for low, high in (wilson_interval(k, n) for k in rng.binomial(n, share, 2000))
    ]
    assert 0.92 <= np.mean(covered) <= 0.98


def test_none_over_in_enough_requests_proves_a_share_within_one_percent():
    n = requests_to_bound(0.01)
    assert wilson_interval(0, n)[1] <= 0.01 < wilson_interval(0, n - 5)[1]
    assert 300 <= n <= 400  # the "about 300 requests" a p99's bound needs


def test_two_shares_compared_in_standard_errors():
    assert two_share_z(5, 500, 40, 500) > 4
    assert two_share_z(40, 500, 5, 500) < -4
    assert two_share_z(0, 500, 0, 500) == 0.0
    assert two_share_z(1, 0, 1, 10) == 0.0
