"""One step's requests, one by one: when each was due, began, was sent and was answered.

The histograms of ``recording`` give the step's percentiles; the trace gives what a verdict on
steady state needs: the requests in flight over time, the tail of the step's second half
against its first, and a warm-up cut off at any instant. Times are seconds from the step's
start (``NaN``: never happened). A trace travels between Locust processes as a plain dict
(``to_message`` / ``from_message``) and merges by concatenation.

Each step's arrivals come from a seed of their own (``step_seed``): the base seed
(``--arrival-seed``, fresh per run, configuration and repeat) and the step's index, mixed by
NumPy's ``SeedSequence``, so no two steps or searches share a draw, and each seed is recorded.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

import numpy as np

NAN = math.nan


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

    def arrive(self, at: float) -> int:
        self.intended.append(at)
        self.began.append(NAN)
        self.sent.append(NAN)
        self.done.append(NAN)
        self.failed.append(False)
        return len(self.intended) - 1

    def merge(self, other: StepTrace) -> None:
        for name in ("intended", "began", "sent", "done", "failed"):
            getattr(self, name).extend(getattr(other, name))
        self.paced_s = max(self.paced_s, other.paced_s)
        self.generator_cpu_share = max(self.generator_cpu_share, other.generator_cpu_share)

    def to_message(self) -> dict:
        message = {
            name: [None if v != v else v for v in getattr(self, name)]  # NaN is not msgpack-safe
            for name in ("intended", "began", "sent", "done")
        }
        return message | {
            "failed": [bool(f) for f in self.failed],
            "paced_s": self.paced_s,
            "generator_cpu_share": self.generator_cpu_share,
            "seed": self.seed,
        }

    @classmethod
    def from_message(cls, message: dict) -> StepTrace:
        times = {
            name: array("d", (NAN if v is None else float(v) for v in message[name]))
            for name in ("intended", "began", "sent", "done")
        }
        return cls(
            **times,
            failed=array("b", (bool(f) for f in message["failed"])),
            paced_s=message["paced_s"],
            generator_cpu_share=message["generator_cpu_share"],
            seed=message["seed"],
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The trace as arrays sorted by scheduled instant (merged processes interleave)."""
        order = np.argsort(np.asarray(self.intended, dtype=float), kind="stable")
        out = {
            name: np.asarray(getattr(self, name), dtype=float)[order]
            for name in ("intended", "began", "sent", "done")
        }
        out["failed"] = np.asarray(self.failed, dtype=bool)[order]
        return out

    @property
    def offered_rps(self) -> float:
        """The realised arrival rate: arrivals / seconds the schedule ran."""
        return len(self.intended) / self.paced_s if self.paced_s > 0 else 0.0
