"""docs/YOUR_APP.md: its example routes file is one the lab reads, on the sample's own routes, and
the figures it states are the code's."""

import re
from pathlib import Path

from loadtests.plugins.search import SLO_FACTOR, SLO_MARGIN_MS
from loadtests.project.environment import LAB_PACKAGES
from loadtests.project.preflight import COUNT_CHECK_REQUESTS
from loadtests.project.routes import DEFAULT_STATUS, DEFAULT_WEIGHT, parse
from loadtests.project.servers import PROJECT_KINDS
from loadtests.sweep.capacity_plan import ROUTE_SLO_FLOOR_MS
from loadtests.sweep.project_capacity import SERVICE_SAMPLES, TIME_LIMITS, WORKERS

DOC = Path(__file__).resolve().parents[2] / "docs" / "YOUR_APP.md"
SAMPLE_PATTERNS = {"/", "/articles/<int:pk>/", "/articles/new/", "/dashboard/"}


def test_the_example_routes_file_reads_and_names_the_samples_routes():
    (example,) = re.findall(r"```routes\n(.*?)```", DOC.read_text(), re.DOTALL)
    routes = parse(example, str(DOC))
    assert {r.pattern for r in routes} <= SAMPLE_PATTERNS
    assert {r.method for r in routes} == {"GET", "POST"}


def test_the_stated_figures_are_the_codes():
    text = " ".join(DOC.read_text().split())
    assert f"(default {DEFAULT_STATUS})" in text
    assert f"its share of the load (default {DEFAULT_WEIGHT})" in text
    assert f"then {COUNT_CHECK_REQUESTS} more times" in text
    assert all(f"`{kind}`" in text for kind in PROJECT_KINDS)
    assert all(name in text for name in LAB_PACKAGES)


def test_the_capacity_map_s_figures_are_the_codes():
    text = " ".join(DOC.read_text().split())
    assert f"each loadable route {SERVICE_SAMPLES} more times" in text
    assert f"{SLO_FACTOR:g} x S + {SLO_MARGIN_MS:g} ms, at least {ROUTE_SLO_FLOOR_MS:g} ms" in text
    assert f"within {TIME_LIMITS['default']:g} s for the map" in text
    assert WORKERS["default"] == (1,)
    assert "all four kinds, 1 worker, one search each" in text
    assert WORKERS["full"] == (1, 2)
    assert "`--profile full` (1 and 2 workers" in text
