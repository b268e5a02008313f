"""One open-model step's record in one Locust process: HDR histograms and counts, mergeable exactly.

Latencies are kept in microseconds in HDR histograms (``hdrhistogram``, 3 significant digits),
so the master's merge of every worker's histograms gives the percentiles of all the step's
requests, not an average of per-worker percentiles. A record travels between processes as a
plain dict (``to_message`` / ``from_message``), the histograms in HDR's own compressed encoding.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3600 * 10**6  # an hour: no request outlives Locust's timeouts
SIGNIFICANT_DIGITS = 3
PERCENTILES = (50, 95, 99)
# A step whose generator lag p99 passes this did not start its requests when it meant to:
# its figures measure the generator as much as the server.
LAG_LIMIT_MS = 20.0
# A request that starts later than this after its intended instant is counted as late (it
# still runs, and its latency still counts from the intended instant).
LATE_MS = 10.0

HISTOGRAMS = ("intended", "sent", "lag")
COUNTS = ("scheduled", "sent_count", "completed", "in_window", "failures", "late", "dropped")


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def _us(ms: float) -> int:
    return min(HIGHEST_US, max(LOWEST_US, round(ms * 1000.0)))


@dataclass
class StepRecording:
    """What one process saw of one step (or, merged, what every process saw)."""

    intended: HdrHistogram = field(default_factory=new_histogram)  # from the scheduled instant
    sent: HdrHistogram = field(default_factory=new_histogram)  # from the actual send
    lag: HdrHistogram = field(default_factory=new_histogram)  # send instant - scheduled instant
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
    errors: Counter = field(default_factory=Counter)

    def record_lag(self, lag_ms: float) -> None:
        self.scheduled += 1
        self.lag.record_value(_us(max(lag_ms, 0.0)))

    def record(self, intended_ms: float, sent_ms: float, error: str | None, in_window: bool):
        self.completed += 1
        self.intended.record_value(_us(intended_ms))
        self.sent.record_value(_us(sent_ms))
        if error is not None:
            self.failures += 1
            self.errors[error[:200]] += 1
        elif in_window:
            self.in_window += 1

    def merge(self, other: StepRecording) -> None:
        for name in HISTOGRAMS:
            getattr(self, name).add(getattr(other, name))
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.paced_s = max(self.paced_s, other.paced_s)
        firsts = [f for f in (self.first_answer_s, other.first_answer_s) if f is not None]
        self.first_answer_s = min(firsts) if firsts else None
        starts = [t for t in (self.started_at, other.started_at) if t]
        self.started_at = min(starts) if starts else 0.0
        self.ended_at = max(self.ended_at, other.ended_at)
        self.errors.update(other.errors)

    def to_message(self) -> dict:
        message = {name: getattr(self, name).encode().decode("ascii") for name in HISTOGRAMS}
        message |= {name: getattr(self, name) for name in COUNTS}
        message |= {
            "paced_s": self.paced_s,
            "first_answer_s": self.first_answer_s,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "errors": dict(self.errors),
        }
        return message

    @classmethod
    def from_message(cls, message: dict) -> StepRecording:
        record = cls(**{name: message[name] for name in (*COUNTS, "paced_s", "first_answer_s")})
        for name in HISTOGRAMS:
            setattr(record, name, HdrHistogram.decode(message[name].encode("ascii")))
        record.started_at, record.ended_at = message["started_at"], message["ended_at"]
        record.errors = Counter(message["errors"])
        return record

    @property
    def error_count(self) -> int:
        """Failed requests and requests never started: both are requests the clients lost."""
        return self.failures + self.dropped

    def percentile_ms(self, histogram: HdrHistogram, percentile: float) -> float | None:
        if histogram.get_total_count() == 0:
            return None
        return round(histogram.get_value_at_percentile(percentile) / 1000.0, 3)

    def summary(self, offered_rps: float) -> dict:
        """The step as the capacity map reports it (counts, rates, percentiles in ms)."""
        latency = {f"p{p}": self.percentile_ms(self.intended, p) for p in PERCENTILES}
        latency |= {f"send_p{p}": self.percentile_ms(self.sent, p) for p in PERCENTILES}
        lag_p99 = self.percentile_ms(self.lag, 99) or 0.0
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
            "latency_ms": latency,
            "generator_lag_p99_ms": lag_p99,
            "generator_lag_too_high": lag_p99 > LAG_LIMIT_MS,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "error_samples": [e for e, _ in self.errors.most_common(3)],
        }
