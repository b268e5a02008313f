"""The headless-Chromium page checker, on small generated pages."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from tests.browser import check_page


def png(width: int = 4, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def page(body: str) -> str:
    return f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>"


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages")
    data_uri = "data:image/png;base64," + base64.b64encode(png()).decode()
    (folder / "plot.png").write_bytes(png())
    files = {
        "good": page(
            f'<img src="{data_uri}"><img src="plot.png">'
            '<svg width="120" height="80"><polyline points="0,80 60,10 120,40"/></svg>'
            "<script>console.log('fine'); console.warn('only a warning');</script>"
        ),
        "broken": page(
            '<img src="missing.png"><img src="data:image/png;base64,AAAA">'
            '<svg width="0" height="0"></svg>'
        ),
        "errors": page(
            '<svg width="10" height="10"><rect width="5" height="5"/></svg>'
            "<script>console.error('boom', 42);</script>"
            "<script>throw new Error('kaput');</script>"
        ),
        "empty": page("<p>no plots</p>"),
    }
    for name, html in files.items():
        (folder / f"{name}.html").write_text(html)
    return folder


@pytest.mark.slow
def test_a_page_with_loaded_plots_and_no_errors_passes(pages):
    result = check_page(pages / "good.html")
    assert result.ok, result.summary()
    assert len(result.images) == 2
    assert len(result.svgs) == 1
    assert result.title == "t"


@pytest.mark.slow
def test_plots_that_did_not_load_are_named(pages):
    result = check_page(pages / "broken.html")
    assert not result.ok
    assert len(result.not_loaded) == 3
    assert any("missing.png" in item for item in result.not_loaded)
    assert any("missing.png" in error for error in result.console_errors)


@pytest.mark.slow
def test_console_errors_and_uncaught_exceptions_are_reported(pages):
    result = check_page(pages / "errors.html")
    assert not result.ok
    assert any("boom 42" in error for error in result.console_errors)
    assert any("kaput" in error for error in result.console_errors)
    assert not result.not_loaded


@pytest.mark.slow
def test_a_page_without_plots_is_not_ok(pages):
    result = check_page(pages / "empty.html")
    assert result.console_errors == []
    assert result.plots == []
    assert not result.ok
