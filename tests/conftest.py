"""Shared fixtures. Each area's tests live in their own folder with their own conftest."""

import pytest

from loadtests.upstream_server import serve_upstream
from tests.db.conftest import throwaway_cluster


@pytest.fixture(scope="session")
def upstream():
    """A real upstream server process on loopback, shared by the tests of a session."""
    with serve_upstream() as running:
        yield running


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster, migrated and seeded, shared by the tests of a session
    (starting one costs 10-20 s on a busy machine). A folder's conftest may define its own."""
    with throwaway_cluster() as cluster:
        yield cluster
