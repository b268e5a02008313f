"""The project made ready under the lab's settings, in its own environment.

The lab's package (``django_async_lab/`` here: the settings, URLconf and ASGI application that
wrap the project's, and the probe) is copied beside the lab's metrics app (``mysite/metrics``,
whose imports are all relative) and the two modules of its parent that it uses (``lifespan``,
``errors``) into the environment's site-packages. The probe, run there, makes the copy of the
project's database, loads the fixtures the user names, collects the static files, and says what
Django sees.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import mysite

from .discover import SETTINGS_VARIABLE, Project, ProjectError, run
from .django_async_lab import DATA_DIR, PROJECT_SETTINGS
from .environment import Environment

PACKAGE = "django_async_lab"
SETTINGS = f"{PACKAGE}.settings"
ASGI_APP = f"{PACKAGE}.asgi:application"
PACKAGE_SOURCE = Path(__file__).with_name(PACKAGE)
LAB_SOURCE = Path(mysite.__file__).parent
# The lab modules the metrics app imports from its parent package (``from .. import``).
PARENT_MODULES = ("lifespan.py", "errors.py")


@dataclass(frozen=True)
class Description:
    """What the probe printed: the project as Django sees it under the lab's settings."""

    asgi_application: str | None  # module:attribute
    wsgi_application: str | None
    login_url: str
    routes: list[dict]  # one per URL pattern, with its view's facts (see the probe)


@dataclass(frozen=True)
class Shim:
    environment: Environment
    project: Project
    databases: dict[str, Path]  # SQLite alias -> its private copy; empty: the project's own

    @property
    def uses_copy(self) -> bool:
        return bool(self.databases)

    def env(self) -> dict[str, str]:
        """The environment of every process that runs the project: its directory on the path, the
        lab's settings, nothing inherited that points Python at the lab."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        return env | {
            "PYTHONPATH": str(self.project.root),
            SETTINGS_VARIABLE: SETTINGS,
            PROJECT_SETTINGS: self.project.settings_module,
            DATA_DIR: str(self.environment.directory),
        }


def install(
    environment: Environment, project: Project, fixtures: tuple[str, ...] = ()
) -> tuple[Shim, Description]:
    """Write the package and run the probe: the copies migrated, ``fixtures`` (Django's
    ``loaddata`` names) loaded into them; what Django says of the project."""
    target = environment.site_packages / PACKAGE
    shutil.rmtree(target, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(PACKAGE_SOURCE, target, ignore=ignore)
    shutil.copytree(LAB_SOURCE / "metrics", target / "metrics", ignore=ignore)
    for name in PARENT_MODULES:
        shutil.copy2(LAB_SOURCE / name, target / name)
    shim = Shim(environment, project, {})
    probe = [str(environment.python), "-m", f"{PACKAGE}.probe", *fixtures]
    failed = f"Django could not ready the project ({project.settings_module})"
    output = run(probe, failed, cwd=project.root, env=shim.env())
    answer = json.loads(output.splitlines()[-1])
    copies = {alias: Path(path) for alias, path in answer.pop("copies").items()}
    description = Description(**answer)
    if description.asgi_application is None:
        raise ProjectError(f"no ASGI application found in {project.settings_module}")
    return Shim(environment, project, copies), description
