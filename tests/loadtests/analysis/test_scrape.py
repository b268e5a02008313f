"""Server-side percentiles from two scrapes: deltas and histogram_quantile's interpolation."""

import math

import pytest

from loadtests.analysis import scrape
from mysite.metrics import names

ROUTE = "/sync/api/"


def exposition(counts: dict[float, int], total: float, route: str = ROUTE) -> str:
    """A Prometheus text exposition of one route's histogram, cumulative counts by bound."""
    lines = [f"# HELP {names.SERVER_DURATION} d", f"# TYPE {names.SERVER_DURATION} histogram"]
    labels = f'{names.METHOD}="GET",{names.ROUTE}="{route}",{names.STATUS}="200"'
    for bound, count in counts.items():
        le = "+Inf" if math.isinf(bound) else repr(bound)
        lines.append(f'{names.SERVER_DURATION}_bucket{{{labels},le="{le}"}} {count}')
    lines.append(f"{names.SERVER_DURATION}_count{{{labels}}} {counts[math.inf]}")
    lines.append(f"{names.SERVER_DURATION}_sum{{{labels}}} {total}")
    return "\n".join(lines) + "\n"


def test_window_delta_and_interpolated_percentiles():
    before = scrape.parse(exposition({0.1: 5, 0.2: 5, 0.4: 5, math.inf: 5}, 0.5))
    after = scrape.parse(exposition({0.1: 5, 0.2: 55, 0.4: 105, math.inf: 105}, 25.5))
    window = scrape.route_histogram(after, ROUTE) - scrape.route_histogram(before, ROUTE)
    assert window.count == 100
    assert window.count_by_status == {"200": 100}
    # 50 requests in (0.1, 0.2], 50 in (0.2, 0.4]: the median sits at 0.2 s.
    assert window.quantile(0.5) == pytest.approx(0.2)
    assert window.quantile(0.75) == pytest.approx(0.3)
    assert window.latency_ms().mean == pytest.approx(250.0)


def test_other_routes_are_left_out_and_an_empty_window_has_no_percentiles():
    families = scrape.parse(exposition({0.1: 3, math.inf: 3}, 0.1, route="/async/api/"))
    assert scrape.route_histogram(families, ROUTE).count == 0
    assert scrape.route_histogram(families, ROUTE).latency_ms() is None


def test_beyond_the_last_bound_gives_the_last_bound():
    families = scrape.parse(exposition({0.1: 0, 0.2: 1, math.inf: 10}, 30))
    assert scrape.route_histogram(families, ROUTE).quantile(0.99) == pytest.approx(0.2)


@pytest.mark.parametrize("service", [0.05, 0.2, 1.0, 2.0])
def test_buckets_resolve_the_service_time(service):
    buckets = scrape.buckets_for(service)
    assert buckets == sorted(set(buckets))
    assert all(b > 0 for b in buckets)
    assert service in buckets
    above = [b for b in buckets if service < b <= 1.1 * service]
    assert len(above) >= 5, "fine steps just above the service time"


@pytest.mark.parametrize(
    ("value", "lower", "upper", "expected"),
    [
        (0.1234, 0.1, 0.2, 0.1),
        (0.1734, 0.1, 0.2, 0.2),
        (0.2011, 0.2, 0.201, 0.201),
        (0.20041, 0.2, 0.201, 0.2),
        (1.5, 1.0, float("inf"), 1.5),
    ],
)
def test_a_percentile_keeps_the_digits_its_bucket_allows(value, lower, upper, expected):
    assert scrape.round_to_bucket(value, lower, upper) == pytest.approx(expected)


def test_the_bucket_of_a_quantile():
    hist = scrape.Histogram({0.1: 10, 0.2: 90, 0.3: 100, float("inf"): 100})
    assert hist.bucket(0.5) == (0.1, 0.2)
    assert hist.bucket(0.05) == (0.0, 0.1)
    assert hist.bucket(0.99) == (0.2, 0.3)


def test_server_percentiles_keep_their_bucket_s_precision_and_bounds():
    hist = scrape.Histogram({0.1: 10, 0.2: 90, 0.3: 100, float("inf"): 100}, total=15.0)
    latency = hist.latency_ms()
    assert (latency.p50, latency.p50_bucket) == (200.0, (100.0, 200.0))  # 150 ms: to 100 ms
    assert latency.p99_bucket == (200.0, 300.0)
    assert latency.mean == 150.0
