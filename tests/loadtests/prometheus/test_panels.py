"""A cell's Prometheus panels (``loadtests.prometheus.panels``): the dashboards' answers as
results.json's ``panels``, one group per cell, each run's panels covering that run only
(issue 15). A point of ``rate(...[$__rate_interval])`` covers the seconds before it. With
Grafana's four scrape intervals and windows of a few seconds, every point inside a run's windows
averaged in its warm-up (a panel at 112 req/s beside a table's 156); two intervals, and a point
at the run's end, give a point that covers the run's windows and nothing else.
"""

from loadtests.prometheus import panels
from loadtests.report import agreement
from tests.loadtests.conftest import a_cell


def test_evaluated_panels_become_one_group_per_cell():
    evaluated = {
        "window": {"start": 100.0, "end": 110.0, "step": 1.0, "rate_interval": "4s"},
        "variables": {"job": "django:c", "locust_job": "locust:c", "route": ".*"},
        "panels": {
            "active_requests": {
                "title": "Requests in flight",
                "description": "d",
                "unit": "short",
                "kind": "timeseries",
                "queries": [
                    {
                        "ref_id": "A",
                        "expr": "e",
                        "legend": "{{m}}",
                        "series": [
                            {"name": "GET", "points": [[100, 1.2345678], [101, None]]},
                            {"name": "POST", "points": [[100, None]]},
                        ],
                    }
                ],
            },
            "loop_lag_max": {
                "title": "t",
                "description": "d",
                "unit": "s",
                "kind": "timeseries",
                "queries": [{"ref_id": "A", "expr": "e", "legend": "", "series": []}],
            },
        },
    }
    cell = a_cell(workers=2)
    (panel,) = panels.seam_panels([evaluated], cell, [[102.5, 104.5]])
    assert panel["cell"] == "uvicorn/2/async-api"
    assert panel["group"] == "async-api on uvicorn, 2 workers"
    assert panel["series"] == [
        {"label": "GET", "ref_id": "A", "points": [[100, 1.23457], [101, None]]}
    ]
    assert panel["spans"] == [[102.5, 104.5]]
    assert panel["origin"] == 102.5
    assert panel["queries"] == [{"ref_id": "A", "expr": "e", "legend": "{{m}}"}]


def test_the_rate_window_is_two_scrapes_or_a_step():
    assert panels.rate_window(1.0, 1.0) == "2s"
    assert panels.rate_window(2.0, 1.0) == "2s"
    assert panels.rate_window(4.0, 1.0) == "4s"
    assert panels.rate_window(1.0, 0.5) == "1s"


def test_a_runs_grid_ends_on_its_last_window_and_starts_in_its_warm_up():
    run = (100.3, 102.3)  # two 1 s windows
    start, end = panels.run_grid(run, since=97.9, lead=10.0, step=1.0)
    assert end == 102.3, "a point at the run's end"
    assert start == 98.3, "whole steps back, not before the servers were up"
    width = agreement.seconds(panels.rate_window(1.0, 1.0))
    assert run[0] <= end - width, "the last point covers the run's windows only"
    start, _ = panels.run_grid(run, since=50.0, lead=4.0, step=1.0)
    assert start == 96.3, "at most the lead before the first window"


def _evaluated(start, end, points):
    return {
        "window": {"start": start, "end": end, "step": 1.0, "rate_interval": "2s"},
        "variables": {"job": "django:c"},
        "panels": {
            "p": {
                "title": "t",
                "description": "d",
                "unit": "short",
                "queries": [
                    {
                        "ref_id": "A",
                        "expr": "e",
                        "legend": "",
                        "series": [{"name": "GET", "labels": {}, "points": points}],
                    }
                ],
            }
        },
    }


def test_runs_are_merged_with_nothing_between_them():
    (panel,) = panels.seam_panels(
        [
            _evaluated(98.3, 102.3, [[101.3, 1.0], [102.3, 2.0]]),
            _evaluated(118.0, 122.0, [[121.0, 3.0], [122.0, 4.0]]),
        ],
        a_cell(),
        [[99.3, 102.3], [119.0, 122.0]],
    )
    assert panel["range"] == [98.3, 122.0]
    (series,) = panel["series"]
    assert [t for t, _ in series["points"]] == [101.3, 102.3, 121, 122]


def test_the_end_point_is_stored_inside_the_run():
    run = (1796137456.1023, 1796137458.1027)  # its end rounds up to a later millisecond
    _, end = panels.run_grid(run, since=run[0] - 2, lead=10.0, step=1.0)
    assert end <= run[1]
    assert run[1] - end < 0.001
