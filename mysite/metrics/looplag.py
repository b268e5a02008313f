"""Event-loop lag: how late a worker's event loop runs a timer it asked for.

A healthy loop wakes within a fraction of a millisecond. A blocking call in an async view
(``/async/blocking/``) stalls the loop for its whole duration, and every other request on
that worker with it; this monitor makes that visible per worker.
"""

import asyncio
import contextlib
import time

from . import instruments

INTERVAL = 0.1  # seconds between samples: ten cheap wake-ups a second
WINDOW = 1.0  # the per-worker gauge shows the worst sample of this window

_task: asyncio.Task | None = None


async def _monitor(interval: float = INTERVAL, window: float = WINDOW) -> None:
    worst, window_started = 0.0, time.perf_counter()
    while True:
        expected = time.perf_counter() + interval
        await asyncio.sleep(interval)
        now = time.perf_counter()
        lag = max(0.0, now - expected)
        instruments.loop_lag.observe(lag)
        worst = max(worst, lag)
        if now - window_started >= window:
            instruments.loop_lag_max.set(worst)
            worst, window_started = 0.0, now


async def start() -> None:
    global _task
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(_monitor(), name="event-loop-lag")


async def stop() -> None:
    global _task
    if _task is not None:
        _task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await _task
        _task = None
