"""A whole-call deadline for the sync client, down to every socket read.

httpx's sync timeouts bound each phase and each read on its own: an upstream that drips its
body a byte at a time never trips them, and a thread can read for as long as the upstream
likes. This network backend clamps every connect, read and write of the calling thread to
the time left before the deadline that thread set, so a call ends at its deadline whatever
the upstream does, and the thread is free again. Given a ``should_stop`` too (the request's
client went away), a read waits in slices of ``POLL`` seconds and gives up when it says so.
"""

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import httpcore

POLL = 0.1  # seconds: how soon a read notices should_stop

_local = threading.local()


@contextlib.contextmanager
def bounded_by(deadline: float, should_stop: Callable[[], bool] | None = None) -> Iterator[None]:
    """Every socket operation of this thread within the block ends by ``deadline``
    (a ``time.monotonic()`` value), or soon after ``should_stop()`` turns true."""
    _local.deadline, _local.should_stop = deadline, should_stop
    try:
        yield
    finally:
        _local.deadline = _local.should_stop = None


def _clamp(timeout: float | None, error: type[Exception]) -> float | None:
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise error("the call's deadline has passed")
    should_stop = getattr(_local, "should_stop", None)
    if should_stop is not None and should_stop():
        raise error("the request's client went away")
    return remaining if timeout is None else min(timeout, remaining)


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if getattr(_local, "should_stop", None) is None:
            return self._stream.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))
        started = time.monotonic()
        while True:  # in slices, so that should_stop is asked every POLL seconds
            left = _clamp(timeout, httpcore.ReadTimeout)
            if timeout is not None:
                left = min(left, timeout - (time.monotonic() - started))
                if left <= 0:
                    raise httpcore.ReadTimeout("timed out")
            try:
                return self._stream.read(max_bytes, min(left, POLL))
            except httpcore.ReadTimeout:
                continue  # nothing yet: ask again

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _Stream(
            self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def install(transport) -> None:
    """Give an ``httpx.HTTPTransport``'s pool this backend (httpx has no argument for it)."""
    pool = transport._pool
    if not hasattr(pool, "_network_backend"):
        raise RuntimeError("httpcore's pool has no _network_backend: the deadline needs updating")
    pool._network_backend = DeadlineBackend()
