"""One open-model step's record: when each request was due, began, was sent and was answered.

Everything about a step comes from it: its counts, rates and percentiles (``summary``: the
model's ``Latency`` of every request, so the merge of every Locust process's traces gives the
percentiles of all the step's requests, not an average of per-process ones), and what a verdict
on steady state needs (``loadtests.plugins.search``: the requests in flight over time, the
tail of the step's second half against its first, a warm-up cut off at any instant). Times are
seconds from the step's start (``NaN``: never happened). A trace travels between Locust
processes as a plain dict (``to_message`` / ``from_message``: its arrays as bytes) and merges
by concatenation.

Each step's arrivals come from a seed of their own (``step_seed``): the base seed
(``--arrival-seed``, fresh per run, configuration and repeat) and the step's index, mixed by
NumPy's ``SeedSequence``, so no two steps or searches share a draw, and each seed is recorded.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from dataclasses import dataclass, field, fields

import numpy as np

from loadtests.analysis.thresholds import LAG_LIMIT_MS, LATE_MS
from loadtests.model.latency import QUANTILES, Latency, LatencyMs

NAN = math.nan
TIMES = ("intended", "began", "sent", "done")
ARRAYS = (*TIMES, "failed")


def step_seed(base: int, index: int, process: int = 0) -> int:
    """The seed of step ``index`` of the search seeded ``base`` (in Locust process ``process``)."""
    entropy = [abs(int(base)), int(index), int(process)] + ([1] if base < 0 else [])
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> 1)


def arrival_schedule(rate: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A step's Poisson arrivals (seconds from its start) over ``seconds``, conditioned on their
    count: round(rate x seconds) instants, uniform and sorted. Within the step they are as
    bursty as Poisson arrivals; over the whole step the offered rate is the one asked for, so
    tests at one rate can be pooled and a step's verdict is not a draw of its rate."""
    return np.sort(rng.uniform(0.0, seconds, round(rate * seconds)))


@dataclass
class StepTrace:
    """The requests of one step (in one process or, merged, in all)."""

    # Compact arrays (8 bytes a time, 1 a flag): an open-ended run keeps every request.
    intended: array = field(default_factory=lambda: array("d"))  # scheduled instant
    began: array = field(default_factory=lambda: array("d"))  # its greenlet ran (pre-connection)
    sent: array = field(default_factory=lambda: array("d"))  # it had a connection and was sent
    done: array = field(default_factory=lambda: array("d"))  # answered (successfully or not)
    failed: array = field(default_factory=lambda: array("b"))  # failed, dropped or unanswered
    paced_s: float = 0.0  # seconds the schedule ran (the longest, when merged)
    generator_cpu_share: float = 0.0  # CPU seconds / seconds while pacing (the busiest process)
    seed: int = 0  # this process's seed (the first process's, when merged)
    started_at: float = 0.0  # unix (the earliest, when merged)
    ended_at: float = 0.0  # unix, queue drained (the latest, when merged)
    errors: Counter = field(default_factory=Counter)  # error text -> requests

    def arrive(self, at: float) -> int:
        self.intended.append(at)
        self.began.append(NAN)
        self.sent.append(NAN)
        self.done.append(NAN)
        self.failed.append(False)
        return len(self.intended) - 1

    def fail(self, index: int, error: str) -> None:
        self.failed[index] = True
        self.errors[error[:200]] += 1

    def merge(self, other: StepTrace) -> None:
        for name in ARRAYS:
            getattr(self, name).extend(getattr(other, name))
        self.paced_s = max(self.paced_s, other.paced_s)
        self.generator_cpu_share = max(self.generator_cpu_share, other.generator_cpu_share)
        self.started_at = min((t for t in (self.started_at, other.started_at) if t), default=0.0)
        self.ended_at = max(self.ended_at, other.ended_at)
        self.errors.update(other.errors)

    def to_message(self) -> dict:
        """The trace as msgpack carries it: each array as its bytes (NaN included)."""
        message = {f.name: getattr(self, f.name) for f in fields(self)}
        return message | {n: message[n].tobytes() for n in ARRAYS} | {"errors": dict(self.errors)}

    @classmethod
    def from_message(cls, message: dict) -> StepTrace:
        arrays = {n: array("b" if n == "failed" else "d", message[n]) for n in ARRAYS}
        return cls(**(message | arrays | {"errors": Counter(message["errors"])}))

    def arrays(self) -> dict[str, np.ndarray]:
        """The trace as arrays sorted by scheduled instant (merged processes interleave)."""
        order = np.argsort(np.asarray(self.intended, dtype=float), kind="stable")
        out = {name: np.asarray(getattr(self, name), dtype=float)[order] for name in TIMES}
        out["failed"] = np.asarray(self.failed, dtype=bool)[order]
        return out

    def summary(self) -> dict:
        """The step as the capacity map reports it (counts, rates, percentiles in ms)."""
        a = self.arrays()
        answered, dropped = np.isfinite(a["done"]), a["failed"] & ~np.isfinite(a["began"])
        lag = latency_of(a["began"] - a["intended"]).quantile(0.99) or 0.0
        # Answers per second while answers flow: from the first answer to the schedule's end
        # (a step starts with an empty pipe, which would otherwise read as lost throughput).
        flowing = self.paced_s - (float(a["done"][answered].min()) if answered.any() else 0.0)
        in_window = int(np.count_nonzero(~a["failed"] & (a["done"] <= self.paced_s)))
        return {
            "offered_rps": round(self.offered_rps, 3),
            "achieved_rps": round(in_window / flowing, 3) if flowing > 0 else 0.0,
            "duration_s": round(self.paced_s, 3),
            "scheduled": len(a["intended"]),
            "sent": int(np.count_nonzero(np.isfinite(a["sent"]))),
            "completed": int(np.count_nonzero(answered)),
            "errors": int(np.count_nonzero(a["failed"])),  # failed, unanswered or dropped
            "late": int(np.count_nonzero(a["sent"] - a["intended"] > LATE_MS / 1000.0)),
            "dropped": int(np.count_nonzero(dropped)),
            "latency_ms": percentiles(a["done"] - a["intended"]),
            "send_latency_ms": percentiles(a["done"] - a["sent"]),
            "generator_lag_p99_ms": lag,
            "generator_lag_too_high": lag > LAG_LIMIT_MS,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "error_samples": [e for e, _ in self.errors.most_common(3)],
        }

    @property
    def offered_rps(self) -> float:
        """The realised arrival rate: arrivals / seconds the schedule ran."""
        return len(self.intended) / self.paced_s if self.paced_s > 0 else 0.0


def latency_of(seconds: np.ndarray) -> Latency:
    """The latency of the requests whose instants are known (``NaN``: not answered)."""
    return Latency.of(seconds[np.isfinite(seconds)] * 1000.0)


def percentiles(seconds: np.ndarray) -> LatencyMs:
    latency = latency_of(seconds)
    return LatencyMs(**{key: latency.quantile(q) for key, q in QUANTILES.items()})
