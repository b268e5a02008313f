"""The report's one chart engine, matplotlib: the Prometheus panels as time series."""

from __future__ import annotations

import re

from loadtests.report import plots


def _runs_drawn(drawn: str) -> int:
    return len(re.findall(r'<g id="run-\d+-\d+"', drawn))


def _run(drawn: str) -> str:
    """The first series' first line as drawn, up to the next element with an id."""
    return re.search(r'<g id="run-0-0">(.*?)<g id="(?!m)', drawn, flags=re.S).group(1)


def test_a_time_series_is_svg_with_its_title_unit_and_legend():
    series = [
        {"label": "server", "points": [[10, 0.2], [11, 0.25], [12, None], [13, 0.3], [14, 0.31]]},
        {"label": "Locust (client)", "points": [[10, 0.21]]},
    ]
    drawn = plots.timeseries("Latency p99", "s", series, [(10.5, 13.5)], origin=10.5)
    assert drawn.startswith("<svg")
    assert drawn.endswith("</svg>")
    assert ">ms<" in drawn, "seconds are drawn as milliseconds"
    for text in ("Latency p99", "server", "Locust (client)", "measured window"):
        assert f">{text}<" in drawn
    assert _runs_drawn(drawn) == 3, "a gap breaks the server's line; the client's is one point"
    assert "<script" not in drawn
    empty = plots.timeseries("Nothing", "reqps", [], [])
    assert ">no data<" in empty
    assert ">req/s<" in empty


def test_the_throughput_panel_draws_the_tables_figure_and_no_line_across_a_gap():
    points = [[t, 100.0] for t in (100, 101, 102, 110, 111)]
    drawn = plots.timeseries(
        "t",
        "reqps",
        [{"label": "Locust (client)", "points": points}],
        [(100, 102), (110, 112)],
        step=1.0,
        reference=(100.0, "table: 100 req/s"),
    )
    assert _runs_drawn(drawn) == 2, "8 s without a point break the line"
    assert ">table: 100 req/s<" in drawn, "the reference is named in the legend"
    assert len(re.findall(r'<g id="reference-\d+"', drawn)) == 2, "the figure over each window"


def test_many_series_are_counted_past_the_legends_room():
    series = [{"label": f"pid {n}", "points": [[0, n], [1, n]]} for n in range(12)]
    drawn = plots.timeseries("lag", "ms", series, [(0, 1)])
    assert ">pid 6<" in drawn
    assert ">pid 7<" not in drawn
    assert f">and {12 - plots.LEGEND_ENTRIES + 1} more<" in drawn
    assert _runs_drawn(drawn) == 12, "every series is drawn, named or not"


def test_few_points_are_each_marked():
    few = plots.timeseries("t", "short", [{"label": "a", "points": [[0, 1], [1, 2]]}], [])
    many = [[t, 1] for t in range(plots.MARKED_POINTS + 1)]
    dense = plots.timeseries("t", "short", [{"label": "a", "points": many}], [])
    assert "<use " in _run(few)
    assert "<use " not in _run(dense)
