"""Shared fixtures. Each area's tests live in their own folder with their own conftest."""

import pytest

from loadtests.upstream_server import serve_upstream


@pytest.fixture(scope="session")
def upstream():
    """A real upstream server process on loopback, shared by the tests of a session."""
    with serve_upstream() as running:
        yield running
