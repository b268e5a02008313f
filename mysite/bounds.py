"""The longest a legitimate request can take, computed from the settings and the parameter bounds.

Every view's wait is bounded by something the settings or the parameters fix:

- the sleep views wait ``delay``, at most ``MAX_DELAY``;
- every fan-out (concurrent, thread pool, sequential) answers within ``FANOUT_DEADLINE``;
- a database view waits at most ``DB_TIMEOUT`` for a pooled connection, then runs a statement
  that sleeps ``delay`` and that PostgreSQL cancels at ``DB_TIMEOUT``.

The graceful stop of every server kind (``mysite.shutdown.StopTimes``) is derived from the
largest of these, so no legitimate request in flight is cut when a server stops. It bounds a
request's own work: requests queued behind a blocked event loop (``/async/blocking/``, the
anti-pattern on purpose) wait on top of it.
"""

from dataclasses import dataclass

from django.conf import settings

from mysite.demo import conf as demo_conf
from mysite.demo.params import MAX_DELAY
from mysite.shutdown import StopTimes


@dataclass(frozen=True, slots=True)
class RequestBounds:
    """What bounds each kind of view, in seconds."""

    max_delay: float
    fanout_deadline: float
    db_timeout: float

    @property
    def sleep(self) -> float:
        return self.max_delay

    @property
    def fanout(self) -> float:
        return self.fanout_deadline

    @property
    def database(self) -> float:
        return self.db_timeout + min(self.db_timeout, self.max_delay)

    @property
    def longest_request(self) -> float:
        return max(self.sleep, self.fanout, self.database)

    def stop_times(self) -> StopTimes:
        return StopTimes(self.longest_request)


def from_settings() -> RequestBounds:
    """The bounds of this app as its settings configure it (read at call time)."""
    return RequestBounds(
        max_delay=MAX_DELAY,
        fanout_deadline=demo_conf.fanout_deadline(),
        db_timeout=float(settings.DB_TIMEOUT),
    )
