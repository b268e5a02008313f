"""The pacer: one Locust process's share of an open-model step.

Arrivals come on a schedule (constant or exponential gaps); each one runs the scenario user's
``ask()`` in a greenlet of its own, whether or not earlier ones have finished. The user's session
reports each answer here; the pacer records it from the intended instant and from the actual
send, and re-fires Locust's request event with the intended-start latency, so Locust's own
statistics count the queue too.
"""

from __future__ import annotations

import random
import time

import gevent
import gevent.event
import gevent.lock
import gevent.pool
from locust.event import EventHook

from .recording import LATE_MS, StepRecording

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
        self.in_flight = 0
        # Requests beyond this many wait for a connection here (the client's own queue, which
        # the intended-start latency counts and the actual-send latency does not).
        self.connections = gevent.lock.BoundedSemaphore(min(connections, max_in_flight))
        self.stop_event = gevent.event.Event()
        self.schedule_end = float("inf")
        self.step_start = 0.0
        self._current: dict = {}  # greenlet -> (intended perf_counter, record, end of schedule)
        self.name = user_class.scenario.path

    def run_step(self, rate: float, duration: float | None, seed: int) -> StepRecording:
        record, rng = StepRecording(), random.Random(seed)
        self.schedule_end = float("inf")
        group = gevent.pool.Group()
        start = self.step_start = time.perf_counter()
        end = start + duration if duration else float("inf")
        record.started_at = time.time()
        intended = start
        while intended < end and not self.stop_event.is_set():
            wait = intended - time.perf_counter()
            if wait > 0 and self.stop_event.wait(wait):
                break
            lag_ms = (time.perf_counter() - intended) * 1000.0
            record.record_lag(lag_ms)
            if self.in_flight >= self.max_in_flight:
                record.dropped += 1
                self._fire_dropped()
            else:
                self.in_flight += 1
                group.spawn(self._one, intended, record, end)
            intended += rng.expovariate(rate) if self.poisson else 1.0 / rate
        # A step stopped early (Locust's end) counts its answers up to the stop, not after.
        self.schedule_end = min(time.perf_counter(), end)
        record.paced_s = self.schedule_end - start
        if not group.join(timeout=DRAIN_TIMEOUT):
            unanswered = len(group)
            group.kill(block=True, timeout=5)
            record.failures += unanswered
            why = f"not answered within {DRAIN_TIMEOUT:g} s of the step's end"
            record.errors[why] += unanswered
        gevent.sleep(DRAIN_PAUSE)
        record.ended_at = time.time()
        return record

    def _one(self, intended: float, record: StepRecording, end: float) -> None:
        me = gevent.getcurrent()
        self._current[me] = (intended, record, end)
        try:
            with self.connections:
                record.sent_count += 1
                record.late += (time.perf_counter() - intended) * 1000.0 > LATE_MS
                self.user.ask()
        except Exception as error:  # an arrival's failure is a measurement
            now = time.perf_counter()
            record.record((now - intended) * 1000.0, 0.0, repr(error), False)
        finally:
            self.in_flight -= 1
            self._current.pop(me, None)

    def _on_response(self, response_time, exception=None, **meta) -> None:
        intended, record, end = self._current[gevent.getcurrent()]
        now = time.perf_counter()
        total_ms = (now - intended) * 1000.0
        if record.first_answer_s is None:
            record.first_answer_s = now - self.step_start
        error = None if exception is None else str(exception)
        record.record(total_ms, float(response_time), error, now <= min(end, self.schedule_end))
        meta |= {"response_time": total_ms, "exception": exception}
        self.environment.events.request.fire(**meta)

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
