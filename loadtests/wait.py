"""``wait_until``: the one polling loop, for the sweep, the Locust plugin and the tests."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until[T](
    condition: Callable[[], T],
    timeout: float,
    interval: float = 0.1,
    *,
    stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], object] = time.sleep,
) -> T | None:
    """The first truthy answer of ``condition()`` within ``timeout`` seconds, else None.

    ``condition`` is asked at least once; ``stop()`` ends the wait early (None); ``sleep`` is
    the pause between attempts (``gevent.sleep`` inside Locust).
    """
    deadline = time.monotonic() + timeout
    while True:
        answer = condition()
        if answer or stop() or time.monotonic() >= deadline:
            return answer or None
        sleep(interval)
