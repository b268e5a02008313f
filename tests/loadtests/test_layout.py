"""The house's shape: which package, and which part of ``loadtests``, may import which, and no
import cycle anywhere.

Read from the source (every ``import``, at any depth in a module), so an import hidden inside a
function counts as much as one at the top. Modules are cut by concept, not by size: there is no
line cap.
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


def _module_names() -> dict[str, Path]:
    names = {}
    for package in PACKAGES:
        for path in _modules(package):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project's modules that ``name`` imports: ``from a import b`` names the module
    ``a.b`` when there is one, else ``a``; relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found |= {
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            }
    return (found & set(known)) - {name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                found.append(sorted([node, *component]))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others():
    known = _module_names()
    graph = {name: _imported_modules(name, path, known) for name, path in known.items()}
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


# loadtests' parts (its sub-packages and top-level modules), each with the parts it may import,
# bottom first: the model at the bottom (only the scenarios, plain workload definitions, below
# it); the Locust plugins and the analysis above it; planning and running (the sweep, the
# benchmarks, the observability comparison, Prometheus beside a run) above them; the report
# reads the model and the analysis; the commands on top.
PARTS = {
    "scenarios": set(),
    "wait": set(),
    "upstream_server": set(),
    "model": {"scenarios"},
    "analysis": {"model", "scenarios"},
    "plugins": {"model", "analysis", "wait"},
    "locust_options": {"scenarios"},
    "locustfile": {"plugins", "locust_options", "scenarios"},
    "prometheus": {"model", "analysis", "scenarios", "wait"},
    # The sweep plans and runs; its command (``sweep.main``) renders the report after a run;
    # it serves a project of the user's (``--app``) through ``project``.
    "sweep": {
        *("model", "analysis", "plugins", "prometheus", "scenarios", "wait", "upstream_server"),
        *("observability", "report", "project"),
    },
    # Measurements beside the sweep: its CPU sampler and server start, the stacks they compare.
    "bench": {"model", "sweep", "observability", "upstream_server"},
    "observability": {"model", "upstream_server"},  # the stacks, as a server runs them
    "report": {"model", "analysis", "scenarios"},
    "run": {"observability", "upstream_server"},
    "docs_tables": {"analysis", "report", "sweep"},
    "compare": {"model", "analysis"},
    "__main__": {"compare", "analysis"},  # python -m loadtests: compare, prediction
    "project": set(),  # a project's serving and checking: the app's launcher, no other part
}
# Modules above the report's parts that it reads, and why it must.
REPORT_ALSO = {
    "loadtests.plugins.search": "it quotes the capacity search's rules from the constants it runs",
    "loadtests.prometheus.panels": "it lines the stored panels up with the cells, keyed as they",
}


def _part(module: str) -> str:
    return module.split(".")[1]


def _loadtests_imports() -> dict[str, set[str]]:
    known = _module_names()
    return {
        name: {m for m in _imported_modules(name, path, known) if m.startswith("loadtests.")}
        for name, path in known.items()
        if name.startswith("loadtests.")
    }


def test_every_part_of_loadtests_has_its_place():
    parts = {_part(name) for name in _loadtests_imports() if name != "loadtests"}
    assert parts == set(PARTS)


def test_a_part_of_loadtests_imports_only_the_parts_below_it():
    wrong = {
        f"{name} -> {other}"
        for name, imported in _loadtests_imports().items()
        if name != "loadtests"
        for other in imported
        if _part(other) != _part(name)
        and _part(other) not in PARTS[_part(name)]
        and not (_part(name) == "report" and other in REPORT_ALSO)
    }
    assert wrong == set()


def test_the_parts_form_no_cycle_and_the_report_s_exceptions_are_used():
    assert _cycles(PARTS) == []
    read = set().union(
        *(m for n, m in _loadtests_imports().items() if n.startswith("loadtests.report"))
    )
    assert set(REPORT_ALSO) <= read
