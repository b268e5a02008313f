"""Shared fixtures, the figures tests measure, and how ``pytest -n`` (pytest-xdist) shares the
suite out. Each area's tests live in their own folder with their own conftest.

Under ``-n N`` every test module is one unit of work, so a module's fixtures (a server, a sweep)
start once, on one worker; modules that touch one thing only one may touch at a time share a
unit (``SHARED_UNITS``). The longest units (``LONGEST_FIRST``) are handed out first, longest
first, then the other units holding a test marked ``slow``, so that no long unit starts last
while the other workers idle. Session fixtures (the upstream, PostgreSQL) start once per worker
that uses them.
"""

from __future__ import annotations

import json
import os

import pytest
from xdist.scheduler import LoadScopeScheduling

from loadtests.upstream_server import serve_upstream
from tests.db.conftest import throwaway_cluster

# Modules run one after another, on one worker, by unit:
SHARED_UNITS = {
    # The lab's own PostgreSQL (var/postgres/ of the checkout), which `make bench` and the sweep
    # start when DATABASE_URL is unset: one test starts it, the other watches it start and stop.
    "tests/test_quick_start.py": "lab-postgres",
    "tests/loadtests/sweep/test_db_interrupt_live.py": "lab-postgres",
    # One tiny sweep (tests/loadtests/conftest.py's session fixture), read by both.
    "tests/loadtests/prometheus/test_hook.py": "tiny-sweep",
    "tests/loadtests/sweep/test_locust_artifacts_live.py": "tiny-sweep",
    # The sample project's environment and its database copy under var/projects/, which each
    # serving test makes afresh: two at once would pull the copy from under each other.
    **{
        f"tests/project/{module}.py": "project-sample"
        for module in ("test_servers", "test_preflight", "test_cli", "test_shim", "test_bench_live")
    },
}
# The units that take longest under ``make test`` (-n 4 on a busy two-core machine: 40-110 s
# each, their setup included), longest first.
LONGEST_FIRST = (
    "tests/reliability/test_harness.py",
    "tests/loadtests/sweep/test_sweep_live.py",
    "project-sample",
    "tests/observability/test_capacity_stacks_live.py",
    "lab-postgres",
    "tiny-sweep",
    "tests/loadtests/sweep/test_capacity_db_live.py",
    "tests/loadtests/sweep/test_serverlife_live.py",
    "tests/reliability/test_soak.py",
    "tests/dashboards/test_live.py",
    "tests/loadtests/plugins/test_open_model_live.py",
)
# The figures' sections in the terminal summary, by the folder of the test that measured them.
FIGURE_SECTIONS = {"db": "database figures", "reliability": "reliability figures"}
FIGURE_PROPERTY = "figure"


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its module, or the shared unit of its module."""
    module = nodeid.partition("::")[0]
    return SHARED_UNITS.get(module, module)


class ModuleScheduling(LoadScopeScheduling):
    """xdist's ``loadscope`` with a module, or a shared unit of modules, as the scope."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    return ModuleScheduling(config, log)


@pytest.fixture(scope="session")
def upstream():
    """A real upstream server process on loopback, shared by the tests of a session."""
    with serve_upstream() as running:
        yield running


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster, migrated and seeded, shared by the tests of a session
    (of a worker, under ``-n``; starting one costs 10-20 s on a busy machine)."""
    with throwaway_cluster() as cluster:
        yield cluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The longest units first, then the slow tests (xdist hands the units out in this order).
    # Stable, so every worker collects the same order, as xdist requires.
    rank = {unit: index for index, unit in enumerate(LONGEST_FIRST)}

    def order(item: pytest.Item) -> tuple[int, bool]:
        unit = unit_of(item.nodeid)
        return rank.get(unit, len(rank)), item.get_closest_marker("slow") is None

    items.sort(key=order)


# --- figures ------------------------------------------------------------------------------------
# A test records what it measured with ``figure(name, value, bound)``. The record travels in the
# test's report (under -n, from the worker that ran it), so the summary lists every figure of
# the run; docs/RELIABILITY.md quotes them, and ``RELIABILITY_FIGURES=path`` writes the
# reliability suite's as JSON.

# (section, figure): what each test measured, in the order the reports came.
_FIGURES: list[tuple[str, dict[str, str]]] = []


@pytest.fixture
def figure(request):
    def record(name: str, value, bound: str = "") -> None:
        test = request.node.nodeid.rpartition("/")[2]
        row = {"test": test, "figure": name, "value": str(value), "bound": bound}
        request.node.user_properties.append((FIGURE_PROPERTY, row))

    return record


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "teardown":  # the teardown's report carries every figure of the test
        return
    folder = report.nodeid.split("/")[1] if report.nodeid.count("/") > 1 else ""
    section = FIGURE_SECTIONS.get(folder, "figures")
    _FIGURES.extend((section, row) for key, row in report.user_properties if key == FIGURE_PROPERTY)


def pytest_terminal_summary(terminalreporter) -> None:
    for section in dict.fromkeys(section for section, _ in _FIGURES):
        terminalreporter.section(section)
        for row in (row for of, row in _FIGURES if of == section):
            bound = f"   (bound: {row['bound']})" if row["bound"] else ""
            terminalreporter.write_line(f"{row['test']}: {row['figure']} = {row['value']}{bound}")
    path = os.environ.get("RELIABILITY_FIGURES")
    if path:
        rows = [row for of, row in _FIGURES if of == FIGURE_SECTIONS["reliability"]]
        with open(path, "w") as out:
            json.dump(rows, out, indent=1)
