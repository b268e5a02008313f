"""The lab's settings module for a project (``django_async_lab.settings``), read here in the lab's
own Python on a settings module written for the test: what it keeps, what it changes."""

import runpy
import sys

import pytest

from loadtests.project.django_async_lab import DATA_DIR, PROJECT_SETTINGS

SETTINGS = """
SECRET_KEY = "theirs"
DEBUG = True
ROOT_URLCONF = "site_x.urls"
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
INSTALLED_APPS = ["site_x"]
DATABASES = {DATABASES}
"""
SQLITE = {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}
POSTGRES = {"ENGINE": "django.db.backends.postgresql", "NAME": "theirs"}


def lab_settings(tmp_path, monkeypatch, databases: dict) -> dict:
    (tmp_path / "site_x_settings.py").write_text(SETTINGS.replace("{DATABASES}", repr(databases)))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "site_x_settings", raising=False)  # this test's own
    monkeypatch.setenv(PROJECT_SETTINGS, "site_x_settings")
    monkeypatch.setenv(DATA_DIR, str(tmp_path / "data"))
    return runpy.run_module("loadtests.project.django_async_lab.settings")


def test_the_projects_settings_measured_with_the_labs_metrics(tmp_path, monkeypatch):
    found = lab_settings(tmp_path, monkeypatch, {"default": SQLITE})
    assert (found["SECRET_KEY"], found["DEBUG"]) == ("theirs", False)
    # Named in the package it sits in: django_async_lab in a project, this one here.
    package = "loadtests.project.django_async_lab"
    assert found["MIDDLEWARE"][0] == f"{package}.metrics.middleware.MetricsMiddleware"
    assert found["INSTALLED_APPS"] == ["site_x", f"{package}.metrics"]
    assert found["MIDDLEWARE"][1:] == ["django.middleware.common.CommonMiddleware"]
    assert (found["PROJECT_URLCONF"], found["ROOT_URLCONF"]) == (
        "site_x.urls",
        f"{package}.urls",
    )


@pytest.mark.parametrize(
    ("databases", "copied"),
    [
        ({"default": SQLITE, "other": SQLITE}, {"default", "other"}),
        ({"default": SQLITE, "other": POSTGRES}, set()),  # one of its own: all its own
        ({}, set()),
    ],
)
def test_sqlite_databases_are_copied_unless_the_project_names_its_own(
    tmp_path, monkeypatch, databases, copied
):
    found = lab_settings(tmp_path, monkeypatch, databases)
    assert set(found["COPIES"]) == copied
    for alias, db in found["DATABASES"].items():
        expected = (
            str(tmp_path / "data" / f"db-{alias}.sqlite3") if copied else databases[alias]["NAME"]
        )
        assert db["NAME"] == expected
