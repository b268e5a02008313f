"""docs/DEPLOYMENT.md's proxy example accounts for every forwarding header the app believes."""

import re
from pathlib import Path

from mysite.metrics.forwarded import FORWARDING_HEADERS

DOC = Path(__file__).resolve().parents[1] / "docs" / "DEPLOYMENT.md"


def test_the_nginx_example_sets_or_strips_every_forwarding_header_the_app_reads():
    """A header the proxy neither sets nor strips passes through from the client: a new one
    read by the app needs a line in the example."""
    blocks = re.findall(r"```nginx\n(.*?)```", DOC.read_text(), re.S)
    assert blocks, "docs/DEPLOYMENT.md has no nginx example"
    for block in blocks:
        handled = {name.lower() for name in re.findall(r"proxy_set_header\s+([\w-]+)", block)}
        read = {h.removeprefix("HTTP_").replace("_", "-").lower() for h in FORWARDING_HEADERS}
        assert read <= handled, f"not set or stripped by the example: {sorted(read - handled)}"
