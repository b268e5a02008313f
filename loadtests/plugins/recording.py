"""One open-model step's record in one Locust process: latencies and counts, mergeable exactly.

Latencies are the model's ``Latency`` (3 significant digits, as HDR histograms kept them), so the
master's merge of every worker's records gives the percentiles of all the step's requests, not
an average of per-worker percentiles. A record travels between processes as msgpack
(``msgspec.to_builtins``, read back with ``msgspec.convert``): it is a typed record.
"""

from __future__ import annotations

from collections import Counter

from msgspec import field

from loadtests.analysis.thresholds import LAG_LIMIT_MS
from loadtests.model.latency import Latency, LatencyMs
from loadtests.model.record import Record

COUNTS = ("scheduled", "sent_count", "completed", "in_window", "failures", "late", "dropped")


class StepRecording(Record):
    """What one process saw of one step (or, merged, what every process saw)."""

    intended: Latency = field(default_factory=Latency)  # from the scheduled instant
    sent: Latency = field(default_factory=Latency)  # from the actual send
    lag: Latency = field(default_factory=Latency)  # send instant - scheduled instant
    scheduled: int = 0  # arrivals the schedule produced
    sent_count: int = 0  # requests that started
    completed: int = 0  # answered (successfully or not)
    in_window: int = 0  # answered successfully before the step's schedule ended
    failures: int = 0  # answered with a failure, or not answered within the drain
    late: int = 0  # started more than LATE_MS after their instant
    dropped: int = 0  # never started: the bound on requests in flight was reached
    paced_s: float = 0.0  # seconds the schedule ran (the longest, when merged)
    first_answer_s: float | None = None  # from the step's start to its first answer (the least)
    started_at: float = 0.0  # unix (the earliest, when merged)
    ended_at: float = 0.0  # unix, queue drained (the latest, when merged)
    errors: dict[str, int] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.errors = Counter(self.errors)  # as read back from a message, too

    def record_lag(self, lag_ms: float) -> None:
        self.scheduled += 1
        self.lag.record(max(lag_ms, 0.0))

    def record(self, intended_ms: float, sent_ms: float, error: str | None, in_window: bool):
        self.completed += 1
        self.intended.record(intended_ms)
        self.sent.record(sent_ms)
        if error is not None:
            self.failures += 1
            self.errors[error[:200]] += 1
        elif in_window:
            self.in_window += 1

    def merge(self, other: StepRecording) -> None:
        for latency in ("intended", "sent", "lag"):
            getattr(self, latency).merge(getattr(other, latency))
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.paced_s = max(self.paced_s, other.paced_s)
        firsts = [f for f in (self.first_answer_s, other.first_answer_s) if f is not None]
        self.first_answer_s = min(firsts) if firsts else None
        starts = [t for t in (self.started_at, other.started_at) if t]
        self.started_at = min(starts) if starts else 0.0
        self.ended_at = max(self.ended_at, other.ended_at)
        self.errors.update(other.errors)

    @property
    def error_count(self) -> int:
        """Failed requests and requests never started: both are requests the clients lost."""
        return self.failures + self.dropped

    def summary(self, offered_rps: float) -> dict:
        """The step as the capacity map reports it (counts, rates, percentiles in ms)."""
        lag_p99 = self.lag.quantile(0.99) or 0.0
        # Answers per second while answers flow: from the first answer to the schedule's end
        # (a step starts with an empty pipe, which would otherwise read as lost throughput).
        flowing = self.paced_s - (self.first_answer_s or 0.0)
        return {
            "offered_rps": round(offered_rps, 3),
            "achieved_rps": round(self.in_window / flowing, 3) if flowing > 0 else 0.0,
            "duration_s": round(self.paced_s, 3),
            "scheduled": self.scheduled,
            "sent": self.sent_count,
            "completed": self.completed,
            "errors": self.error_count,
            "late": self.late,
            "dropped": self.dropped,
            "latency_ms": _percentiles(self.intended),
            "send_latency_ms": _percentiles(self.sent),
            "generator_lag_p99_ms": lag_p99,
            "generator_lag_too_high": lag_p99 > LAG_LIMIT_MS,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "error_samples": [e for e, _ in self.errors.most_common(3)],
        }


def _percentiles(latency: Latency) -> LatencyMs:
    summary = latency.summary() or LatencyMs()
    return LatencyMs(p50=summary.p50, p95=summary.p95, p99=summary.p99)
