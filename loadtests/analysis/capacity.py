"""The capacity map's records, and which limit binds each λ*.

Pure: from a capacity search's steps (``loadtests.plugins.search``, as Locust wrote them), the
server's CPU seconds per step (the sweep's sampler) and the scenario's concurrency model
(``loadtests.scenarios``), an entry of ``results.json``'s ``capacity`` list. Two ceilings:

- the concurrency model's: slots / service time (a WSGI worker's threads, a blocked event loop,
  the fan-outs' pooled connections, the database paths' pooled connections: "pool-bound");
  none when only the CPU limits (async views under ASGI);
- the CPU's: the server's cores / its CPU-seconds per request, measured at the search's first
  (lowest) rate, in the same run.

The lower one binds; the sentence says which, with the arithmetic and how close λ* came.
"""

from __future__ import annotations

import random
import statistics

from msgspec import field

from loadtests.scenarios import POOL, SLOTS, Scenario

from .records import Record

CPU = "cpu"
BOOTSTRAP_RESAMPLES = 2000


class StepLatencyMs(Record):
    """Percentiles from the intended start (p50, p95, p99) and from the actual send (send_)."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    send_p50: float | None = None
    send_p95: float | None = None
    send_p99: float | None = None


class CapacityStep(Record, kw_only=True):
    offered_rps: float
    achieved_rps: float
    duration_s: float
    scheduled: int
    sent: int
    completed: int
    errors: int  # failed, unanswered, or dropped (never started)
    late: int  # started more than LATE_MS after their intended instant
    dropped: int
    latency_ms: StepLatencyMs
    generator_lag_p99_ms: float
    generator_lag_too_high: bool = False
    verdict: str = ""  # "held", or why the step failed
    server_cpu_s: float | None = None
    server_threads: int | None = None  # the server's most threads (all processes) in the step
    started_at: float = 0.0
    ended_at: float = 0.0
    error_samples: list[str] = field(default_factory=list)


class CapacityLimit(Record, kw_only=True):
    binds: str | None  # SLOTS, POOL, CPU, or None when neither ceiling is known
    model_rps: float | None  # the concurrency model's ceiling (None: only the CPU limits)
    model: str  # its arithmetic, in words
    cpu_rps: float | None
    cpu_ms_per_request: float | None
    share: float | None  # lambda* / the binding ceiling
    sentence: str


class CapacityEntry(Record, kw_only=True):
    server: str
    workers: int
    threads: int
    scenario: str
    variant: str = ""  # "" or what differs from the app as shipped (metrics off, ...)
    delay_s: float
    slo_p99_ms: float
    lambda_star_rps: float | None
    lambda_star_bracket: list[float | None]  # [last rate that held, first that failed]
    limit: CapacityLimit
    steps: list[CapacityStep]
    stopped_because: str = ""
    min_step_requests: int = 0  # the step-length rule's least number of requests per step
    repeats_lambda_star_rps: list[float | None] = field(default_factory=list)
    lambda_star_ci95: list[float] | None = None
    error: str | None = None
    db_pool_size: int = 0  # DB_POOL_SIZE per worker (the database paths), 0 otherwise
    idle_threads: int | None = None  # the server's threads, ready, before the first step
    skipped: str = ""  # why this configuration cannot run (then nothing was measured)


def model_ceiling(spec: Scenario, server: str, workers: int, threads: int, delay: float,
                  fanout: int, pool: int,
                  db_pool: int = 0) -> tuple[float | None, str]:  # fmt: skip
    """The concurrency model's ceiling in requests/s, with its arithmetic (None: no slot limit)."""
    slots, held = spec.slots(server, workers, threads, fanout, pool, db_pool)
    service = spec.service_time(delay, fanout)
    if slots is None:
        return None, "no slot limit: each request waits without holding a thread or the loop"
    if service <= 0:
        return None, f"{held}, with no waiting: only the CPU limits"
    return slots / service, f"{held} / {service:g} s = {slots / service:,.0f} req/s"


def model_kind(spec: Scenario, server: str, workers: int, threads: int, fanout: int, pool: int,
               db_pool: int = 0) -> str:  # fmt: skip
    """What the model's ceiling is made of: SLOTS, or POOL when database connections bind."""
    limits = spec.slot_limits(server, workers, threads, fanout, pool, db_pool)
    # On a tie the threads are named: the pool would not bind without them.
    return min(limits, key=lambda limit: (limit[0], limit[2] == POOL))[2] if limits else SLOTS


def cpu_ceiling(steps: list[CapacityStep], cores: int) -> tuple[float | None, float | None]:
    """(requests/s the server's CPUs allow, CPU ms per request), from the low-rate steps.

    The server's CPU use over a step is a fixed part (timers, the loop, the metrics thread) plus
    a part per request: a straight line through the steps that held gives the CPU per request
    (its slope) and what the cores have left for requests (cores minus the fixed part). With one
    such step only, the fixed part is counted per request (the ceiling is then a little low).
    """
    held = [s for s in steps if s.server_cpu_s and s.completed > 0 and s.verdict == "held"]
    points = sorted(
        {(s.completed / _span(s), s.server_cpu_s / _span(s)) for s in held if _span(s) > 0}
    )
    if len({rate for rate, _ in points}) >= 2:
        slope, intercept = statistics.linear_regression(*zip(*points, strict=True))
        if slope > 0 and cores > intercept:
            return (cores - max(intercept, 0.0)) / slope, slope * 1000.0
    measured = [s for s in steps if s.server_cpu_s and s.completed > 0]
    if not measured:
        return None, None
    low = min(measured, key=lambda s: s.offered_rps)
    per_request = low.server_cpu_s / low.completed
    return (cores / per_request, per_request * 1000.0) if per_request > 0 else (None, None)


def _span(step: CapacityStep) -> float:
    return step.ended_at - step.started_at


def binding_limit(lambda_star: float | None, model: tuple[float | None, str],
                  cpu: tuple[float | None, float | None],
                  generator_limited: bool = False,
                  model_binds: str = SLOTS) -> CapacityLimit:  # fmt: skip
    model_rps, model_text = model
    cpu_rps, cpu_ms = cpu
    ceilings = {k: v for k, v in ((model_binds, model_rps), (CPU, cpu_rps)) if v}
    binds = min(ceilings, key=ceilings.get) if ceilings else None
    share = lambda_star / ceilings[binds] if binds and lambda_star else None
    cpu_text = (
        f"1 / {cpu_ms:.2f} ms of server CPU per request = {cpu_rps:,.0f} req/s"
        if cpu_rps
        else "not measured"
    )
    if binds is None:
        sentence = "no ceiling is known for this configuration"
    elif binds != CPU:
        sentence = f"{'pool' if binds == POOL else 'slot'}-bound: {model_text}"
        if share is not None:
            sentence += f"; λ* reached {share:.0%} of it"
        sentence += f" (the CPU would allow {cpu_text})" if cpu_rps else ""
    else:
        sentence = f"CPU-bound at {share:.0%} of the CPU ceiling" if share else "CPU-bound"
        sentence += f" ({cpu_text})"
        if model_rps:
            sentence += f"; the concurrency model would allow {model_text}"
    if generator_limited:
        # The generator, not the server, ended the search: λ* is only a lower bound.
        lower = f"the {binds} ceiling is the lower" if binds else "no ceiling is known"
        sentence = f"generator-limited: λ* is a lower bound; {lower} ({sentence})"
    return CapacityLimit(
        binds=binds, model_rps=_round(model_rps), model=model_text, cpu_rps=_round(cpu_rps),
        cpu_ms_per_request=_round(cpu_ms, 4), share=_round(share, 3), sentence=sentence,
    )  # fmt: skip


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def bootstrap_ci95(values: list[float], seed: int = 1) -> list[float] | None:
    """A percentile bootstrap CI of the mean of fresh repeats (None with fewer than two).

    Written here, small, because the capacity map needs one for λ*; the closed-loop statistics
    may hold the lab's shared helper.
    """
    if len(values) < 2:
        return None
    rng = random.Random(seed)
    means = sorted(
        statistics.fmean(rng.choices(values, k=len(values))) for _ in range(BOOTSTRAP_RESAMPLES)
    )
    low, high = means[int(0.025 * len(means))], means[int(0.975 * len(means)) - 1]
    return [round(low, 1), round(high, 1)]
