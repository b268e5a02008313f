"""Every query of every dashboard, and every recording rule, against a live Prometheus.

One short Locust run (``locustfile.py``: every route, errors, the blocking endpoint) against
the app, scraped every second with the Locust exporter; then each query, its dashboard's
variables filled in as Grafana fills them, must be valid PromQL and return data.
"""

from __future__ import annotations

import json
import re

import pytest

from dashboards import build, panels, promql, rules
from dashboards import locust_exporter as lx
from dashboards.prometheus_server import APP_JOB, LOCUST_JOB
from dashboards.query import default_variables, evaluate_panels, rate_interval, substitute
from mysite.metrics import names as n

from .conftest import LOCUST_RUN_SECONDS

pytestmark = [pytest.mark.live, pytest.mark.slow]

STEP = 1.0
VARIABLES = default_variables(job=APP_JOB, locust_job=LOCUST_JOB)


def dashboard_targets() -> list[tuple[str, str, str]]:
    """``(dashboard uid, panel title, expr)`` of every query in the committed dashboards."""
    found = []
    for path in sorted(build.GRAFANA_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                found.append((dashboard["uid"], panel["title"], target["expr"]))
    return found


def dashboard_variable_queries() -> list[tuple[str, str, str]]:
    """``(dashboard uid, variable, label_values query)`` of every query variable."""
    found = []
    for path in sorted(build.GRAFANA_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                found.append((dashboard["uid"], variable["name"], variable["query"]))
    return found


def test_the_app_and_locust_were_scraped(live_run):
    with live_run.client() as client:
        health = {t["labels"]["job"]: t["health"] for t in client.targets()}
    # The upstream has no /metrics yet: its target is scraped, and down.
    assert health[APP_JOB] == "up"
    assert LOCUST_JOB in health  # down now: Locust has exited


@pytest.mark.parametrize(("uid", "title", "expr"), dashboard_targets())
def test_dashboard_query_returns_series(live_run, uid, title, expr):
    query = substitute(expr, VARIABLES, rate_interval(STEP))
    with live_run.client() as client:
        series = client.query_range(query, live_run.start, live_run.end, STEP)
    assert series, f"{uid} / {title}: no series for {query}"
    values = [float(v) for s in series for _, v in s["values"]]
    assert any(v == v for v in values), f"{uid} / {title}: only NaN for {query}"


@pytest.mark.parametrize(("uid", "name", "query"), dashboard_variable_queries())
def test_dashboard_variable_has_values(live_run, uid, name, query):
    selector, label = re.fullmatch(r"label_values\((.+), (\w+)\)", query).groups()
    expr = f"group by ({label}) ({substitute(selector, VARIABLES, '1m')})"
    with live_run.client() as client:
        series = client.query_range(expr, live_run.start, live_run.end, STEP)
    values = {s["metric"][label] for s in series}
    expected = {promql.JOB: APP_JOB, promql.LOCUST_JOB: LOCUST_JOB}.get(name)
    assert values, f"{uid}: variable {name} has no values"
    if expected:
        assert expected in values


def test_every_route_is_measured(live_run):
    """The load reached every route the app serves, so no panel row is empty."""
    expr = substitute(panels.request_rate().queries[0].expr, VARIABLES, rate_interval(STEP))
    with live_run.client() as client:
        routes = {
            s["metric"][n.ROUTE]
            for s in client.query_range(expr, live_run.start, live_run.end, STEP)
        }
    assert {
        "/sync/api/",
        "/async/api/",
        "/async/blocking/",
        "/async/api_aggregated/",
        "/async/aggregate_sync_view/",
        "/sync/api_aggregated/",
        "/sync/api_sequential/",
        "/sync/db/",
        "/async/db/",
        "/async/db_native/",
        n.UNMATCHED_ROUTE,
    } <= routes


@pytest.mark.parametrize("record", rules.RECORDED)
def test_recording_rule_has_series(live_run, record):
    with live_run.client() as client:
        series = client.query_range(record, live_run.start, live_run.end, STEP)
    assert series, f"the recording rule {record} produced nothing"


def test_evaluate_panels_gives_every_panel_as_plain_data(live_run):
    data = evaluate_panels(
        live_run.prometheus.url, live_run.start, live_run.end, STEP, variables=VARIABLES
    )
    assert json.loads(json.dumps(data, allow_nan=False)) == data  # JSON-ready, no NaN
    assert data["window"] == {
        "start": live_run.start,
        "end": live_run.end,
        "step": STEP,
        "rate_interval": "4s",
    }
    assert list(data["panels"]) == list(panels.all_panels())
    for key, panel in data["panels"].items():
        assert panel["queries"], key
        for query in panel["queries"]:
            assert "$" not in query["expr"]
            assert query["series"], f"{key} {query['ref_id']}: no series"
            for series in query["series"]:
                assert series["name"]
                assert "{{" not in series["name"]
                assert all(len(point) == 2 for point in series["points"])
    rate = data["panels"]["request_rate"]["queries"][0]["series"]
    assert "/async/api/" in {s["name"] for s in rate}


def test_evaluate_panels_selects_panels(live_run):
    data = evaluate_panels(
        live_run.prometheus.url, live_run.start, live_run.end, 5.0, keys=["locust_users"]
    )
    assert list(data["panels"]) == ["locust_users"]
    (users,) = data["panels"]["locust_users"]["queries"][0]["series"]
    assert max(v for _, v in users["points"] if v is not None) == 10
    with pytest.raises(KeyError):
        evaluate_panels(live_run.prometheus.url, live_run.start, live_run.end, 5.0, keys=["x"])


def test_client_and_server_agree_on_request_count(live_run):
    """The app's histogram counts what Locust sent; the exporter showed Locust's count live."""
    exported_total = f"sum(max_over_time({lx.REQUESTS}[1h]))"
    served_total = f"sum(max_over_time({n.SERVER_DURATION}_count[1h]))"
    with live_run.client() as client:
        (exported,) = client.query(exported_total, at=live_run.settled)
        (served,) = client.query(served_total, at=live_run.settled)
    sent = live_run.locust_requests
    exported, served = float(exported["value"][1]), float(served["value"][1])
    assert sent > 100
    # Requests in flight when Locust stopped reach the app but not Locust's count: one a user.
    assert sent <= served <= sent + 10, (sent, served, exported)
    # The exporter's last scrape comes at most a couple of scrape intervals before the end.
    per_second = sent / LOCUST_RUN_SECONDS
    assert sent - 3 * per_second <= exported <= sent, (sent, served, exported)
