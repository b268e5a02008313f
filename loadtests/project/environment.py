"""The project's own virtual environment, under the lab's ``var/projects/``: its requirements,
the servers and prometheus-client at the lab's own versions, built with uv; the lab's
environment is never touched. Rebuilt only when what went into it changed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from mysite.db.cluster import REPO

from .discover import Project, ProjectError, run

PROJECTS_DIR = REPO / "var" / "projects"
# What the lab serves and measures with, installed at the versions the lab's uv.lock gave it
# (uvloop and httptools: the loop and parser the lab runs uvicorn and granian with), over any
# version the project's requirements pin.
LAB_PACKAGES = ("uvicorn", "uvloop", "httptools", "gunicorn", "granian", "prometheus-client")
# The file that records what the environment was built from; written last, so a build that
# failed half-way is never taken for a finished one.
INPUTS_FILE = "inputs.json"
# The interpreter the lab's own venv was made from: the project's venv gets the same Python, and
# uv lives there (``make setup`` installs it as ``python3 -m uv``).
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)
UV = (BASE_PYTHON, "-m", "uv")


class EnvironmentFailed(ProjectError):
    """The project's requirements could not be installed; the message ends with uv's own."""


@dataclass(frozen=True)
class Environment:
    directory: Path  # var/projects/<name>/

    @property
    def venv(self) -> Path:
        return self.directory / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        """Where its packages go (its Python is the lab's: the same version, the same layout)."""
        return Path(sysconfig.get_path("purelib", "venv", vars={"base": str(self.venv)}))


def environment_dir(project: Project) -> Path:
    """``<directory name>-<hash of its path>``: two projects both called ``mysite`` stay apart."""
    digest = hashlib.sha256(str(project.root).encode()).hexdigest()[:8]
    return PROJECTS_DIR / f"{project.root.name}-{digest}"


def build(project: Project, directory: Path | None = None) -> Environment:
    """The project's environment, built or re-used; ``EnvironmentFailed`` says why not."""
    env = Environment(directory or environment_dir(project))
    inputs = {
        "python": sys.version,
        "requirements": project.requirements.read_text(),
        "requirements_name": project.requirements.name,
        "lab": {name: importlib.metadata.version(name) for name in LAB_PACKAGES},
    }
    record = env.directory / INPUTS_FILE
    if record.is_file() and env.python.is_file() and json.loads(record.read_text()) == inputs:
        return env
    record.unlink(missing_ok=True)
    env.directory.mkdir(parents=True, exist_ok=True)
    failed = "the project's requirements could not be installed"
    venv = [*UV, "venv", "--quiet", "--clear", "--python", BASE_PYTHON, str(env.venv)]
    run(venv, failed, EnvironmentFailed)
    # The lab's versions override any the project pins (for its own deployment, say): the
    # servers measured are the lab's, whatever the project runs in production.
    overrides = env.directory / "overrides.txt"
    overrides.write_text("".join(f"{n}=={v}\n" for n, v in inputs["lab"].items()))
    requirements = [
        "-r",
        str(project.requirements),
        "-r",
        str(overrides),
        "--override",
        str(overrides),
    ]
    # From the project's directory, as its users install it: relative paths in its
    # requirements are its own.
    # Compiled once here: with PYTHONDONTWRITEBYTECODE set (as on the lab's machine), every
    # server worker and Locust would compile Django from source at each start.
    install = [*UV, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(env.python)]
    install += requirements
    run(install, failed, EnvironmentFailed, cwd=project.root)
    record.write_text(json.dumps(inputs, indent=2))
    return env
