import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.project.discover import Project, discover
from loadtests.project.environment import (
    INPUTS_FILE,
    LAB_PACKAGES,
    EnvironmentFailed,
    build,
    environment_dir,
)
from tests.project.conftest import SAMPLE


def _lab_packages() -> set[tuple[str, str]]:
    return {(d.metadata["Name"], d.version) for d in importlib.metadata.distributions()}


def test_two_projects_of_one_name_get_two_environments(tmp_path: Path):
    one, other = tmp_path / "a" / "mysite", tmp_path / "b" / "mysite"
    dirs = {environment_dir(Project(p, "mysite.settings", p / "r.txt")) for p in (one, other)}
    assert len(dirs) == 2


def test_requirements_that_cannot_be_installed_stop_with_uvs_reason(tmp_path: Path):
    project_dir = tmp_path / "broken"
    project_dir.mkdir()
    # Relative to the project's directory, as its own users install it.
    (project_dir / "requirements.txt").write_text("./no-such-package\n")
    project = discover(project_dir, settings_module="broken.settings")
    with pytest.raises(EnvironmentFailed, match="could not be installed") as failed:
        build(project, tmp_path / "env")
    assert str(project_dir / "no-such-package") in str(failed.value)
    assert not (tmp_path / "env" / INPUTS_FILE).exists()


@pytest.mark.slow
def test_the_project_gets_an_environment_of_its_own_and_the_labs_is_untouched(tmp_path: Path):
    lab_before = _lab_packages()
    project = discover(SAMPLE)
    env = build(project, tmp_path / "env")
    assert _lab_packages() == lab_before
    script = (
        "import sys, json, importlib.metadata as m;"
        f"print(json.dumps([{{n: m.version(n) for n in {list(LAB_PACKAGES)!r}}}, sys.prefix]))"
    )
    versions, prefix = json.loads(
        subprocess.run(
            [str(env.python), "-c", script], capture_output=True, text=True, check=True
        ).stdout
    )
    # The servers at the lab's own versions, in a prefix that is not the lab's.
    assert versions == {n: importlib.metadata.version(n) for n in LAB_PACKAGES}
    assert Path(prefix) == env.venv
    assert Path(sys.prefix) != env.venv
    # Re-used while nothing that went into it changed: no second install.
    record = env.directory / INPUTS_FILE
    written = record.stat().st_mtime_ns
    assert build(project, tmp_path / "env") == env
    assert record.stat().st_mtime_ns == written


@pytest.mark.slow
def test_the_projects_mysite_is_the_samples_and_the_labs_package_is_not_in_the_lab(
    prepared_sample,
):
    shim = prepared_sample.shim
    found = subprocess.run(
        [
            str(shim.environment.python),
            "-c",
            "import mysite, importlib.util as u, django_async_lab.metrics as m;"
            "print(mysite.__file__, u.find_spec('mysite.launcher'), m.__name__)",
        ],
        cwd=shim.project.root,
        env=shim.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert found == [
        str(SAMPLE.resolve() / "mysite" / "__init__.py"),
        "None",
        "django_async_lab.metrics",
    ]
    assert importlib.util.find_spec("django_async_lab") is None
