import pytest
from django.test import override_settings

from mysite.demo import upstream as upstream_client


@pytest.fixture
def upstream_api(upstream):
    """Point the fan-out views at the real upstream server's /api/ for one test."""
    with override_settings(UPSTREAM_URL=upstream.url + "/api/", UPSTREAM_TIMEOUT="5"):
        yield upstream


@pytest.fixture
async def async_upstream_api(upstream_api):
    """The same, for async tests: the client opened on the test's event loop is closed after."""
    yield upstream_api
    await upstream_client.close_clients()
