from __future__ import annotations

import pytest

from dashboards import panels
from dashboards.query import (
    PrometheusClient,
    PrometheusError,
    default_variables,
    legend,
    rate_interval,
    substitute,
)
from mysite.launcher import LOOPBACK, free_port


def test_rate_interval_is_grafanas():
    assert rate_interval(1, 1) == "4s"  # four scrape intervals at least
    assert rate_interval(10, 1) == "11s"  # else the step plus one scrape interval
    assert rate_interval(0.5, 0.5) == "2s"


def test_substitute_fills_every_variable():
    expr = panels.throughput_compare().queries[1].expr
    filled = substitute(expr, default_variables(job="app"), "4s")
    assert filled == (
        'sum(rate(http_server_request_duration_seconds_count{job="app", http_route=~".*"}[4s]))'
    )
    assert substitute('x{a=~"${route}"}', {"route": "/a/"}, "1m") == 'x{a=~"/a/"}'


def test_substitute_refuses_an_unknown_variable():
    with pytest.raises(KeyError, match="nope"):
        substitute('x{job="$nope"}', {}, "1m")


def test_every_panel_query_can_be_filled():
    for panel in panels.all_panels().values():
        for query in panel.queries:
            assert "$" not in substitute(query.expr, default_variables(), "4s")


def test_legend():
    labels = {"http_route": "/a/", "http_response_status_code": "200"}
    assert legend("{{http_route}} {{ http_response_status_code }}", labels) == "/a/ 200"
    assert legend("{{missing}} p99", labels) == "p99"


def test_unreachable_prometheus_is_an_error():
    with (
        PrometheusClient(f"http://{LOOPBACK}:{free_port()}", timeout=1) as client,
        pytest.raises(PrometheusError),
    ):
        client.query("up")
