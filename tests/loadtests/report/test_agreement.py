"""The time-series panels beside the tables: each cell's throughput panel is set beside its
table's req/s, and where the two differ the report says by how much and why, from the data."""

import html
import json
import shutil

from loadtests import report
from loadtests.analysis import results
from loadtests.analysis.comparisons import rate
from loadtests.prometheus.panels import cell_key
from loadtests.report import agreement
from tests.loadtests.conftest import DATA, a_cell


def _inside_mean(panel: dict) -> float:
    """The Locust line's mean over the points inside the windows, computed here on its own."""
    (client,) = [s for s in panel["series"] if s["label"] == "Locust (client)"]
    values = [v for t, v in client["points"] if any(a <= t <= b for a, b in panel["spans"])]
    return sum(values) / len(values)


def test_every_throughput_panel_is_set_beside_its_table(tmp_path):
    shutil.copy(DATA / "results-prometheus.json", tmp_path / "results.json")
    summary, page = report.render(tmp_path)
    record = results.load(tmp_path / "results.json")
    cells = {cell_key(c): c for c in record.cells}
    texts = {"summary": summary.read_text(), "page": html.unescape(page.read_text())}
    verdicts = []
    for panel in record.panels:
        if panel["key"] != agreement.THROUGHPUT_PANEL:
            continue
        cell, mean = cells[panel["cell"]], _inside_mean(panel)
        differ = abs(mean / cell.rps - 1) > agreement.AGREES_WITHIN
        verdicts.append(differ)
        for where, text in texts.items():
            (line,) = [x for x in text.splitlines() if panel["group"] in x and "Throughput" in x]
            said = line[line.index("averages") :]
            assert f"averages {rate(mean)} req/s" in said, where
            assert f"the table's {rate(cell.rps)} req/s" in said, where
            if differ:
                assert "lower" in said or "higher" in said, where
                assert "warm-up" in said, f"{where}: the cause in this run's data is named"
            else:
                assert "they agree" in said, where
    assert sorted(verdicts) == [False, True], "this stored run has a panel of each kind"


def _panel(points, spans, rate_interval="4s"):
    return {
        "key": agreement.THROUGHPUT_PANEL,
        "cell": "uvicorn/1/async-api",
        "group": "g",
        "title": "Throughput",
        "spans": spans,
        "step": 1.0,
        "rate_interval": rate_interval,
        "queries": [
            {
                "ref_id": "A",
                "expr": "sum(rate(locust_requests_total[4s]))",
                "legend": "Locust (client)",
            }
        ],
        "series": [{"label": "Locust (client)", "ref_id": "A", "points": points}],
    }


def test_points_wholly_inside_the_windows_are_averaged_on_their_own():
    # Two back-to-back 5 s windows; the first 4 points reach back into a ramp-up.
    ramp = [[t, 25.0 * (t - 99)] for t in range(100, 104)]
    steady = [[t, 100.0] for t in range(104, 111)]
    said = agreement.sentence(_panel(ramp + steady, [[100, 105], [105, 110]]), a_cell(rps=100.0))
    assert "averages 86 req/s over its 11 point(s)" in said
    assert "14% lower" in said
    assert "4 of them cover the 4 s before their moment" in said
    assert "the 7 point(s) whose 4 s lie wholly inside the windows average 100 req/s" in said
    assert "less than the 4 s" not in said, "these windows are longer than the rate's"


def test_missing_points_are_counted():
    points = [[t, 100.0] for t in (104, 105, 110)] + [[t, 40.0] for t in (106, 107)]
    said = agreement.sentence(_panel(points, [[100, 110]]), a_cell(rps=100.0))
    assert "Prometheus has a value at 5 of the windows' 11 instants" in said


def test_a_panel_that_agrees_says_so():
    points = [[t, 98.0] for t in range(100, 111)]
    said = agreement.sentence(_panel(points, [[100, 110]]), a_cell(rps=100.0))
    assert said.endswith("they agree within 10%.")
    assert agreement.seconds("1m") == 60.0
    assert json.dumps(agreement.runs([[0, 1], [1, 2], [5, 6]])) == "[[0, 2], [5, 6]]"


def test_a_latency_panel_names_the_bucket_its_percentile_lies_in(tmp_path):
    shutil.copy(DATA / "results-prometheus.json", tmp_path / "results.json")
    summary, _ = report.render(tmp_path)
    record = results.load(tmp_path / "results.json")
    cells = {cell_key(c): c for c in record.cells}
    lines = [x for x in summary.read_text().splitlines() if "Latency p99" in x and "averages" in x]
    assert len(lines) == len(cells), "one sentence per cell's latency panel"
    for panel in (p for p in record.panels if p["key"] == agreement.LATENCY_PANEL):
        cell = cells[panel["cell"]]
        (line,) = [x for x in lines if panel["group"] in x]
        assert f"the table's {rate(cell.latency_ms.p99)} ms" in line
        mean = _inside_mean(panel) * 1000
        if abs(mean / cell.latency_ms.p99 - 1) > agreement.AGREES_WITHIN:
            assert "interpolated within the exporter's histogram bucket" in line


def test_points_that_reach_into_a_steady_warm_up_are_not_named_as_the_cause():
    # Every point at 120 req/s, the first four reaching back into a warm-up that was steady.
    points = [[t, 120.0] for t in range(100, 111)]
    said = agreement.sentence(_panel(points, [[100, 105], [105, 110]]), a_cell(rps=100.0))
    assert "20% higher" in said
    assert "not the warm-up: the 7 point(s) whose 4 s lie wholly inside" in said
    assert "average 120 req/s too" in said
    assert "reach back before the run's first window" not in said
