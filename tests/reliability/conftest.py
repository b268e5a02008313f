"""Fixtures of the reliability suite: the figures each test measured, shown after the run.

A test records what it measured with ``figure(name, value, bound)``; the terminal summary lists
every figure of the run (docs/RELIABILITY.md quotes them), and ``RELIABILITY_FIGURES=path``
also writes them as JSON.
"""

import json
import os

import pytest

_FIGURES: list[dict[str, str]] = []


@pytest.fixture
def figure(request):
    def record(name: str, value, bound: str = "") -> None:
        test = request.node.nodeid.rpartition("/")[2]
        _FIGURES.append({"test": test, "figure": name, "value": str(value), "bound": bound})
        request.node.user_properties.append((name, str(value)))

    return record


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for row in _FIGURES:
        bound = f"   (bound: {row['bound']})" if row["bound"] else ""
        terminalreporter.write_line(f"{row['test']}: {row['figure']} = {row['value']}{bound}")
    path = os.environ.get("RELIABILITY_FIGURES")
    if path:
        with open(path, "w") as out:
            json.dump(_FIGURES, out, indent=1)
