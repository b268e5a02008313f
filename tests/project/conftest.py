"""The sample project (``sample/``, written as a user would) and its environment, made ready
once a session (cached under var/projects/ across sessions, as ``python -m loadtests.project``
keeps it)."""

from pathlib import Path

import pytest

from loadtests.project.cli import Prepared, prepare

SAMPLE = Path(__file__).with_name("sample")
SAMPLE_FIXTURE = "articles"


@pytest.fixture(scope="session")
def prepared_sample() -> Prepared:
    return prepare(SAMPLE, fixtures=(SAMPLE_FIXTURE,))
