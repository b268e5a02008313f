"""Find what the lab needs to know about a Django project before running any of it: its
settings module (from ``manage.py``, or named) and its requirements file (found, or named); and
run a command for it, stopping with the command's own reason when it fails."""

from __future__ import annotations

import ast
import subprocess
from dataclasses import dataclass
from pathlib import Path

SETTINGS_VARIABLE = "DJANGO_SETTINGS_MODULE"
# Looked for in this order when none is named; uv reads either.
REQUIREMENTS_FILES = ("requirements.txt", "pyproject.toml")
ERROR_TAIL = 20  # the lines of a failed command's error kept in the message


class ProjectError(RuntimeError):
    """The project cannot be measured as given; the message says why and what to name."""


def run(argv: list[str], failed: str, error: type[ProjectError] = ProjectError, **options) -> str:
    """``argv``'s output; when it fails, ``error`` saying ``failed`` and how its message ends."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **options)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-ERROR_TAIL:])
        raise error(f"{failed}:\n{tail}")
    return result.stdout


@dataclass(frozen=True)
class Project:
    root: Path
    settings_module: str
    requirements: Path


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
    manage_py = root / "manage.py"
    if settings_module is None and manage_py.is_file():
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
