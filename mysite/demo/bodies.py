"""Upstream bodies, read as a stream up to a cap and parsed as the JSON object expected.

A body is read raw (the clients ask for ``Accept-Encoding: identity``, so no decompression can
turn a small body into a large one) and abandoned as soon as it passes the cap. Whatever is not
a JSON object, deep nesting included (``json`` raises ``RecursionError``), is a named failure.
"""

import json
from typing import Any

import httpx

# The request header that keeps the cap on the bytes that arrive.
IDENTITY = {"Accept-Encoding": "identity"}


class BodyError(Exception):
    """The body is not what the call may accept; ``kind`` names why (an ``error_type``)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


BODY_TOO_LARGE = "body_too_large"
INVALID_RESPONSE = "invalid_response"


def _check_head(response: httpx.Response, cap: int) -> None:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise BodyError(INVALID_RESPONSE, f"upstream body is encoded ({encoding})")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise BodyError(BODY_TOO_LARGE, f"upstream body of {declared} bytes is over {cap}")


def _too_large(cap: int) -> BodyError:
    return BodyError(BODY_TOO_LARGE, f"upstream body passed {cap} bytes")


async def read_async(response: httpx.Response, cap: int) -> bytes:
    _check_head(response, cap)
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > cap:
            raise _too_large(cap)
    return bytes(body)


def read_sync(response: httpx.Response, cap: int) -> bytes:
    _check_head(response, cap)
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > cap:
            raise _too_large(cap)
    return bytes(body)


def parse(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``; BodyError for anything else."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        detail = f"upstream body is not JSON ({type(exc).__name__})"
        raise BodyError(INVALID_RESPONSE, detail) from exc
    if not isinstance(value, dict):
        raise BodyError(INVALID_RESPONSE, "upstream body is not a JSON object")
    return value
