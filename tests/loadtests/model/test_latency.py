"""The one latency type: buckets keep both loads' precision, merges are exact, quantiles are
nearest-rank (as NumPy's inverted CDF), and it survives JSON and msgpack."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from loadtests.model.latency import (
    RESOLUTION_US,
    Latency,
    LatencyMs,
    bucket_us,
    quantile_ranks,
)


def _sample(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.lognormal(mean=3.0, sigma=1.2, size=n)  # ms: from well below 1 ms to seconds


def test_a_bucket_is_never_wider_than_a_tenth_of_a_ms_nor_three_significant_digits():
    for ms in _sample(1, 5000):
        error_us = abs(bucket_us(ms) - ms * 1000.0)
        assert error_us <= RESOLUTION_US / 2 + 0.5
        assert error_us <= ms * 1000.0 * 5e-3 + 0.5  # HDR's 3 significant digits
    assert bucket_us(0.0042) == 4  # µs below 1 ms
    assert bucket_us(1234.56) == 1234600  # 0.1 ms beyond 10 ms
    assert bucket_us(-1.0) == 0


def test_a_latency_recorded_one_by_one_is_the_same_as_one_built_at_once():
    values = _sample(8, 3000)
    one_by_one = Latency()
    for ms in values:
        one_by_one.record(float(ms))
    assert one_by_one == Latency.of(values) == Latency.of(iter(values.tolist()))


def test_merging_workers_gives_the_latency_of_all_their_requests_exactly():
    values = _sample(2, 30_000)
    parts = [Latency.of(chunk) for chunk in np.array_split(values, 7)]
    assert Latency.merged(parts) == Latency.of(values)
    assert Latency.merged(parts).count == len(values)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_quantiles_are_nearest_rank_as_numpy_computes_them(seed):
    values = _sample(seed, 2_001 * seed)
    latency = Latency.of(values)
    bucketed = np.array([bucket_us(v) for v in values]) / 1000.0
    for q in (0.0, 0.01, 0.5, 0.95, 0.99, 0.999, 1.0):
        assert latency.quantile(q) == np.quantile(bucketed, q, method="inverted_cdf")
    assert latency.mean() == pytest.approx(bucketed.mean())
    assert latency.max() == bucketed.max()
    assert latency.cv() == pytest.approx(bucketed.std(ddof=1) / bucketed.mean())


def test_an_empty_latency_has_no_figures():
    empty = Latency()
    assert (empty.quantile(0.5), empty.mean(), empty.max(), empty.summary()) == (None,) * 4
    assert empty.quantile_ci(0.99) == (None, None)


def test_a_p99_has_no_upper_bound_from_a_hundred_samples():
    assert quantile_ranks(100, 0.99)[1] is None
    low, high = quantile_ranks(2000, 0.99)
    assert low < 1980 < high <= 2000


def test_the_order_statistic_interval_covers_the_true_p99_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    true_p99 = math.log(100)  # of an exponential with mean 1
    hits = []
    for _ in range(500):
        ordered = np.sort(rng.exponential(1.0, 2000))
        low, high = quantile_ranks(len(ordered), 0.99)
        hits.append(ordered[low - 1] <= true_p99 <= ordered[high - 1])
    assert 0.91 <= np.mean(hits) <= 0.99


def test_a_latency_quantile_interval_is_its_values_at_those_ranks():
    latency = Latency.of(np.arange(1, 2001) / 10.0)  # 0.1 .. 200 ms, one request each
    low, high = quantile_ranks(2000, 0.99)
    assert latency.quantile_ci(0.99) == (low / 10.0, high / 10.0)
    assert latency.quantile_ci(0.99)[0] < latency.quantile(0.99) < latency.quantile_ci(0.99)[1]


def test_it_round_trips_through_json_and_msgpack():
    latency = Latency.of(_sample(7, 500))
    for codec in (msgspec.json, msgspec.msgpack):
        assert codec.decode(codec.encode(latency), type=Latency) == latency
    assert msgspec.convert(msgspec.to_builtins(latency), Latency) == latency


def test_the_summary_is_what_results_json_holds():
    latency = Latency.of([1.0, 2.0, 3.0, 4.0, 100.0])
    assert latency.summary() == LatencyMs(p50=3.0, p95=100.0, p99=100.0, mean=22.0, max=100.0)
