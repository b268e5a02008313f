from pathlib import Path

import pytest

from loadtests.project.discover import ProjectError, discover, settings_from_manage_py
from tests.project.conftest import SAMPLE


def test_the_sample_is_found_from_its_manage_py():
    project = discover(SAMPLE)
    assert project.settings_module == "mysite.settings"
    assert project.requirements == (SAMPLE / "requirements.txt").resolve()


def test_manage_py_without_a_literal_setting_names_none(tmp_path: Path):
    (tmp_path / "manage.py").write_text("import os\nos.environ['X'] = 'y'\n")
    assert settings_from_manage_py(tmp_path / "manage.py") is None
    with pytest.raises(ProjectError, match="--settings"):
        discover(tmp_path)


def test_named_settings_and_pyproject_requirements(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["Django"]\n')
    project = discover(tmp_path, settings_module="site_x.settings")
    assert project.settings_module == "site_x.settings"
    assert project.requirements.name == "pyproject.toml"


def test_requirements_missing_or_misnamed_stop_with_the_reason(tmp_path: Path):
    with pytest.raises(ProjectError, match=r"no requirements found.*--requirements"):
        discover(tmp_path, settings_module="a.settings")
    with pytest.raises(ProjectError, match="does not exist"):
        discover(tmp_path, settings_module="a.settings", requirements=tmp_path / "nope.txt")
