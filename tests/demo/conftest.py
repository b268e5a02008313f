import pytest
from django.test import override_settings


@pytest.fixture
def upstream_api(upstream):
    """Point the fan-out views at the real upstream server's /api/ for one test."""
    with override_settings(UPSTREAM_URL=upstream.url + "/api/", UPSTREAM_TIMEOUT="5"):
        yield upstream
