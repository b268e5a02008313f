"""Find what the lab needs to know about a Django project without running any of it in the lab's
process: its settings module (from ``manage.py``, or named), its top-level package, its
requirements file; and, through ``probe`` run by the project's own Python, what Django says.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import probe as probe_module

SETTINGS_VARIABLE = "DJANGO_SETTINGS_MODULE"
# Looked for in this order when none is named; uv reads either.
REQUIREMENTS_FILES = ("requirements.txt", "pyproject.toml")
SQLITE_ENGINE = "django.db.backends.sqlite3"


class ProjectError(RuntimeError):
    """The project cannot be measured as given; the message says why and what to name."""


@dataclass(frozen=True)
class Project:
    root: Path
    settings_module: str
    requirements: Path

    @property
    def package(self) -> str:
        return self.settings_module.split(".")[0]


@dataclass(frozen=True)
class Description:
    """What ``probe describe`` printed: the project as Django sees it."""

    asgi_application: str | None
    wsgi_application: str | None
    root_urlconf: str
    databases: dict[str, str]  # alias -> engine
    login_url: str
    staticfiles: bool  # django.contrib.staticfiles installed
    routes: list[dict]

    @property
    def sqlite_aliases(self) -> list[str]:
        return [alias for alias, engine in self.databases.items() if engine == SQLITE_ENGINE]


def settings_from_manage_py(manage_py: Path) -> str | None:
    """The literal ``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "...")`` of ``manage.py``."""
    for node in ast.walk(ast.parse(manage_py.read_text(), str(manage_py))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
            and len(node.args) == 2
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
            and node.args[0].value == SETTINGS_VARIABLE
        ):
            return node.args[1].value
    return None


def discover(
    root: Path, settings_module: str | None = None, requirements: Path | None = None
) -> Project:
    root = root.resolve()
    if not root.is_dir():
        raise ProjectError(f"{root} is not a directory")
    if settings_module is None:
        manage_py = root / "manage.py"
        if manage_py.is_file():
            settings_module = settings_from_manage_py(manage_py)
        if settings_module is None:
            raise ProjectError(
                f"no settings module found: {root} has no manage.py that sets "
                f"{SETTINGS_VARIABLE}; name it (--settings)"
            )
    if requirements is None:
        found = [root / name for name in REQUIREMENTS_FILES if (root / name).is_file()]
        if not found:
            raise ProjectError(
                f"no requirements found: {root} has none of {', '.join(REQUIREMENTS_FILES)}; "
                "name a file (--requirements)"
            )
        requirements = found[0]
    elif not requirements.is_file():
        raise ProjectError(f"requirements file {requirements} does not exist")
    return Project(root, settings_module, requirements.resolve())


def project_environment(project: Project, settings_module: str) -> dict[str, str]:
    """The environment the project's processes run in: its directory first on the path, the
    settings named, and nothing inherited that points Python at the lab."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.pop(SETTINGS_VARIABLE, None)
    return {**env, "PYTHONPATH": str(project.root), SETTINGS_VARIABLE: settings_module}


def run_probe(
    python: Path, project: Project, mode: str, settings_module: str, stdin: object = None
) -> dict:
    """Run ``probe <mode>`` with the project's Python in the project's directory; its JSON."""
    result = subprocess.run(
        [str(python), "-c", Path(probe_module.__file__).read_text(), mode],
        cwd=project.root,
        env=project_environment(project, settings_module),
        input=None if stdin is None else json.dumps(stdin),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise ProjectError(f"Django could not load the project ({settings_module}):\n{tail}")
    return json.loads(result.stdout.splitlines()[-1])


def describe(python: Path, project: Project) -> Description:
    answer = run_probe(python, project, "describe", project.settings_module)
    return Description(
        asgi_application=answer["asgi_application"],
        wsgi_application=answer["wsgi_application"],
        root_urlconf=answer["root_urlconf"],
        databases=answer["databases"],
        login_url=answer["login_url"],
        staticfiles=answer["staticfiles"],
        routes=answer["routes"],
    )
