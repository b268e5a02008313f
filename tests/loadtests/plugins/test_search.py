"""The capacity search's policy on made-up servers: up geometrically, then bisect to λ*."""

from __future__ import annotations

import pytest

from loadtests.plugins.search import Search, default_slo_ms


def step(p99: float | None, errors: int = 0, scheduled: int = 1000, lag_high: bool = False,
         send_p99: float | None = None):  # fmt: skip
    return {"latency_ms": {"p99": p99, "send_p99": send_p99}, "errors": errors,
            "scheduled": scheduled, "generator_lag_too_high": lag_high}  # fmt: skip


def run(search: Search, capacity: float) -> list[float]:
    """A server that holds the SLO below ``capacity`` and misses it above."""
    rates = []
    while (rate := search.next_rate()) is not None:
        rates.append(rate)
        search.record(rate, step(100.0 if rate <= capacity else 5000.0))
    return rates


@pytest.mark.parametrize("capacity", [37.0, 40.0, 1234.0])
def test_the_bracket_closes_around_the_capacity(capacity):
    search = Search(slo_p99_ms=420.0, start_rps=10.0, max_rps=100000.0, precision=0.1)
    run(search, capacity)
    assert search.held <= capacity < search.failed
    assert search.failed / search.held <= 1.1
    assert search.stopped_because.startswith("bracket")


def test_a_start_above_capacity_searches_down():
    search = Search(slo_p99_ms=420.0, start_rps=100.0, max_rps=1000.0)
    rates = run(search, 30.0)
    assert rates[:3] == [100.0, 50.0, 25.0]
    assert search.held <= 30.0 < search.failed


def test_errors_and_generator_lag_fail_a_step_and_lag_stops_the_search():
    search = Search(slo_p99_ms=420.0, start_rps=10.0, max_rps=1000.0)
    assert search.verdict(step(10.0, errors=1, scheduled=1000)) == "errors"
    assert search.verdict(step(10.0, errors=0, scheduled=1000)) == "held"
    assert search.verdict(step(None)) == "p99 over the SLO"
    search.record(10.0, step(10.0))
    assert search.verdict(step(10.0, lag_high=True)) == "held"  # held despite a late generator
    # Over the SLO from the send too: the server queued, whatever the generator's lag.
    assert search.verdict(step(5000.0, lag_high=True, send_p99=4900.0)) == "p99 over the SLO"
    search.record(20.0, step(5000.0, lag_high=True, send_p99=100.0))
    assert search.next_rate() is None
    assert (search.held, search.failed) == (10.0, 20.0)
    assert "generator" in search.stopped_because


def test_the_default_slo_and_the_step_length_rule():
    assert default_slo_ms(0.2) == pytest.approx(420.0)
    search = Search(slo_p99_ms=420.0, start_rps=10.0, max_rps=100.0, min_requests=200)
    assert search.step_seconds(10.0) == 20.0
    assert search.step_seconds(1000.0) == search.min_step_s
