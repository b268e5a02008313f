"""The loop-lag monitor sees a blocked event loop, and starts and stops with the worker."""

import asyncio
import time

from mysite.metrics import instruments, looplag, names

from .samples import local

BLOCK = 0.3  # seconds the test blocks its own loop, as /async/blocking/ does


def lag_samples_above(seconds: float) -> float:
    return local(names.LOOP_LAG + "_count") - local(names.LOOP_LAG + "_bucket", le=str(seconds))


async def test_a_blocked_loop_shows_as_lag(monkeypatch):
    worst = []
    monkeypatch.setattr(instruments.loop_lag_max, "set", worst.append)
    slow_before = lag_samples_above(0.25)
    monitor = asyncio.create_task(looplag._monitor(interval=0.01, window=0.05))
    await asyncio.sleep(0.05)
    time.sleep(BLOCK)  # noqa: ASYNC251  (the blocking call is the point)
    await asyncio.sleep(0.1)
    monitor.cancel()
    assert lag_samples_above(0.25) >= slow_before + 1
    assert max(worst) >= BLOCK - 0.05


async def test_an_idle_loop_shows_little_lag(monkeypatch):
    worst = []
    monkeypatch.setattr(instruments.loop_lag_max, "set", worst.append)
    monitor = asyncio.create_task(looplag._monitor(interval=0.01, window=0.05))
    await asyncio.sleep(0.3)
    monitor.cancel()
    assert worst
    assert min(worst) < BLOCK - 0.05  # not every window can look blocked on an idle loop


async def test_start_and_stop_run_one_monitor_per_loop():
    await looplag.start()
    task = looplag._task
    await looplag.start()
    assert looplag._task is task
    assert not task.done()
    await looplag.stop()
    assert task.cancelled()
    assert looplag._task is None
