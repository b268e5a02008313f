"""The house's shape: which top-level package may import which, and how long a module may grow.

Read from the source (every ``import``, at any depth in a module), so an import hidden inside a
function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mysite", "loadtests", "dashboards")
# Who may import whom: the app knows nothing of its measurers; the dashboards show the app and
# Locust; the load tests use both.
ALLOWED = {
    "mysite": set(),
    "dashboards": {"mysite"},
    "loadtests": {"mysite", "dashboards"},
}
MAX_LINES = 350


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_the_packages_below_it(package):
    wrong = {
        str(path.relative_to(ROOT)): sorted(used - ALLOWED[package] - {package})
        for path in _modules(package)
        if (used := _imported_packages(path)) - ALLOWED[package] - {package}
    }
    assert wrong == {}


def test_the_allowed_imports_form_no_cycle():
    # A package may reach itself only through itself: the allowed graph is a partial order.
    def reach(start: str) -> set[str]:
        seen, todo = set(), list(ALLOWED[start])
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(ALLOWED[name])
        return seen

    assert all(package not in reach(package) for package in PACKAGES)


@pytest.mark.parametrize("package", ["loadtests", "dashboards"])
def test_no_module_is_over_the_size_of_one_concern(package):
    long = {
        str(path.relative_to(ROOT)): n
        for path in _modules(package)
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
