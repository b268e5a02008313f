"""The capacity search's policy: which arrival rate to try next, and when λ* is known.

Pure (no Locust, no I/O), so it can be tested on made-up steps. The rate goes up geometrically
(x ``growth``) from ``start_rps`` until a step fails, then bisects between the last rate that
held and the first that failed until they are within ``precision`` of each other. A step holds
when its p99 from the intended start is within the SLO, fewer than ``MAX_ERROR_RATIO`` of its
requests failed or were dropped. A step over the SLO only from the intended start (not from
the actual send) while the generator did not keep its schedule says nothing sure about the
server: the search stops there, and λ* is a lower bound.

Each step lasts long enough for its p99 to mean something: at least ``min_requests`` arrivals
(so the p99 is not just the slowest request or two) and at least ``min_step_s`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A step fails when this share of its requests or more failed or were never started.
MAX_ERROR_RATIO = 0.001
# The default SLO: p99 from the intended start within SLO_FACTOR x service time + SLO_MARGIN_MS.
SLO_FACTOR = 2.0
SLO_MARGIN_MS = 20.0
MIN_STEP_REQUESTS = 200
MIN_STEP_S = 1.0


def default_slo_ms(service_time_s: float) -> float:
    return SLO_FACTOR * service_time_s * 1000.0 + SLO_MARGIN_MS


def slo_rule() -> str:
    """The default SLO in words, from the constants."""
    return f"p99 from the intended start <= {SLO_FACTOR:g} x service time + {SLO_MARGIN_MS:g} ms"


def step_rule(min_requests: int = MIN_STEP_REQUESTS, min_step_s: float = MIN_STEP_S) -> str:
    return f"each step lasts max({min_step_s:g} s, {min_requests} requests / rate)"


@dataclass
class Search:
    slo_p99_ms: float
    start_rps: float
    max_rps: float
    growth: float = 2.0
    precision: float = 0.1  # stop when failed / held <= 1 + precision
    min_requests: int = MIN_STEP_REQUESTS
    min_step_s: float = MIN_STEP_S
    max_steps: int = 12
    held: float | None = None
    failed: float | None = None
    steps: int = 0
    stopped_because: str = ""
    verdicts: list[str] = field(default_factory=list)

    def step_seconds(self, rate: float) -> float:
        return max(self.min_step_s, self.min_requests / rate)

    def verdict(self, step: dict) -> str:
        """'held', or why the step failed."""
        attempted = max(1, step["scheduled"])
        latency = step["latency_ms"]
        if step["errors"] / attempted >= MAX_ERROR_RATIO:
            return "errors"
        p99 = latency["p99"]
        if p99 is not None and p99 <= self.slo_p99_ms:
            # A late generator only adds to the intended-start latency: a step that held
            # despite it held.
            return "held"
        send_p99 = latency.get("send_p99")
        if step.get("generator_lag_too_high") and (send_p99 is None or send_p99 <= self.slo_p99_ms):
            # Over the SLO only counting from the intended start, with a late generator: the
            # wait may have been the generator's, not the server's.
            return "generator lag"
        return "p99 over the SLO"

    def record(self, rate: float, step: dict) -> str:
        verdict = self.verdict(step)
        self.steps += 1
        self.verdicts.append(verdict)
        if verdict == "held":
            self.held = rate if self.held is None else max(self.held, rate)
        else:
            self.failed = rate if self.failed is None else min(self.failed, rate)
            if verdict == "generator lag":
                self.stopped_because = "the generator could not keep its schedule"
        return verdict

    def next_rate(self) -> float | None:
        """The next rate to try, or None when the search is done (``stopped_because`` says why)."""
        if self.stopped_because:
            return None
        if self.steps >= self.max_steps:
            self.stopped_because = f"{self.max_steps} steps"
            return None
        if self.steps == 0:
            return self.start_rps
        if self.failed is None:  # still going up
            if self.held >= self.max_rps:
                self.stopped_because = f"held at the highest rate tried ({self.max_rps:g}/s)"
                return None
            return min(self.held * self.growth, self.max_rps)
        if self.held is None:  # failed from the start: go down
            low = self.failed / self.growth
            if low < self.start_rps / self.growth**3:
                self.stopped_because = "no rate held"
                return None
            return low
        if self.failed / self.held <= 1.0 + self.precision:
            self.stopped_because = f"bracket within {self.precision:.0%}"
            return None
        return (self.held + self.failed) / 2.0
