"""The pacer: one Locust process's share of an open-model step.

Arrivals come on a schedule (constant gaps, or Poisson: for a step of known length, its count
of uniform instants, ``trace.arrival_schedule``; for an open-ended run, exponential gaps), each
from the step's own seed; each one runs the scenario user's ``ask()`` in a greenlet of its own,
whether or not earlier ones have finished. The user's session reports each answer here; the
pacer keeps every request's instants (``trace``: the step's latencies from the intended instant
and from the actual send come from them), and re-fires Locust's request event with the
intended-start latency, so Locust's own statistics count the queue too.

A step may end before its longest: every ``check_every_s`` the pacer asks ``decide`` (the
search's verdict so far) whether it may stop. It measures its own process's CPU while pacing
(``time.process_time``), so a starved generator shows as such.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

import gevent
import gevent.event
import gevent.lock
import gevent.pool
import numpy as np
from locust.event import EventHook

from .trace import StepTrace, arrival_schedule

DRAIN_TIMEOUT = 30.0  # the longest a step waits for its requests in flight after its schedule
DRAIN_PAUSE = 0.2  # and then a breath, so the server's queue is empty before the next step


class Pacer:
    """This process's arrivals: one step at a time, each at its own rate, for its own time."""

    def __init__(
        self, environment, user_class: type, max_in_flight: int, poisson: bool, connections: int
    ):
        self.environment = environment
        paced = type(
            f"Paced{user_class.__name__}",
            (user_class,),
            {"concurrency": max_in_flight, "host": environment.host},
        )
        self.user = paced(environment)
        # The user's session reports here; we re-fire with the intended-start latency.
        self.user.client.request_event = hook = EventHook()
        hook.add_listener(self._on_response)
        self.max_in_flight, self.poisson = max_in_flight, poisson
        # Requests beyond this many wait for a connection here (the client's own queue, which
        # the intended-start latency counts and the actual-send latency does not).
        self.connections = gevent.lock.BoundedSemaphore(min(connections, max_in_flight))
        self.stop_event = gevent.event.Event()
        self.step_start = 0.0
        self._current: dict = {}  # greenlet -> (its trace, its index in it)
        self.name = user_class.scenario.path

    def _schedule(self, rate: float, duration: float | None, seed: int) -> Iterator[float]:
        """Seconds from the step's start of each arrival."""
        rng = np.random.default_rng(seed)
        if not self.poisson:
            instants = (i / rate for i in itertools.count())
            return itertools.takewhile(lambda t: duration is None or t < duration, instants)
        if duration is not None:
            return iter(arrival_schedule(rate, duration, rng).tolist())
        return itertools.accumulate(rng.exponential(1.0 / rate) for _ in itertools.count())

    def run_step(
        self,
        rate: float,
        duration: float | None,
        seed: int,
        decide: Callable[[StepTrace, float], bool] | None = None,
        first_check_s: float = 0.0,
        check_every_s: float = 0.5,
    ) -> StepTrace:
        trace = StepTrace(seed=seed, started_at=time.time())
        group = gevent.pool.Pool(self.max_in_flight)  # the requests in flight
        start = self.step_start = time.perf_counter()
        cpu_start = time.process_time()
        next_check, stop_at = start + first_check_s, duration or float("inf")
        for offset in self._schedule(rate, duration, seed):
            intended = start + offset
            if self.stop_event.is_set():
                break
            if decide is not None and intended >= next_check:
                if decide(trace, time.perf_counter() - start):
                    stop_at = offset
                    break
                next_check += check_every_s
            wait = intended - time.perf_counter()
            if wait > 0 and self.stop_event.wait(wait):
                break
            index = trace.arrive(offset)
            if group.full():
                trace.failed[index] = True  # dropped: never began
                self._fire_dropped()
            else:
                group.spawn(self._one, trace, index)
        # A step stopped early (Locust's end) counts its answers up to the stop, not after.
        trace.paced_s = min(time.perf_counter() - start, stop_at)
        wall = time.perf_counter() - start
        trace.generator_cpu_share = (time.process_time() - cpu_start) / wall if wall > 0 else 0.0
        if not group.join(timeout=DRAIN_TIMEOUT):
            group.kill(block=True, timeout=5)
            why = f"not answered within {DRAIN_TIMEOUT:g} s of the step's end"
            for index, done in enumerate(trace.done):
                if done != done and not trace.failed[index]:  # NaN: never answered
                    trace.fail(index, why)
        gevent.sleep(DRAIN_PAUSE)
        trace.ended_at = time.time()
        return trace

    def _now(self) -> float:
        return time.perf_counter() - self.step_start

    def _one(self, trace: StepTrace, index: int) -> None:
        me = gevent.getcurrent()
        self._current[me] = (trace, index)
        trace.began[index] = self._now()
        try:
            with self.connections:
                trace.sent[index] = self._now()
                self.user.ask()
        except Exception as error:  # an arrival's failure is a measurement
            trace.done[index] = self._now()
            trace.fail(index, repr(error))
        finally:
            self._current.pop(me, None)

    def _on_response(self, response_time, exception=None, **meta) -> None:
        trace, index = self._current[gevent.getcurrent()]
        trace.done[index] = self._now()
        if exception is not None:
            trace.fail(index, str(exception))
        total_ms = (trace.done[index] - trace.intended[index]) * 1000.0
        self.environment.events.request.fire(**meta, response_time=total_ms, exception=exception)

    def _fire_dropped(self) -> None:
        self.environment.events.request.fire(
            request_type="GET",
            name=self.name,
            response_time=0.0,
            response_length=0,
            exception=RuntimeError(f"dropped: {self.max_in_flight} requests already in flight"),
            context={},
            response=None,
            url=self.name,
        )
