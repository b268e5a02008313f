"""The capacity map's records, and which limit binds each λ*.

Pure: from a capacity search's steps (``loadtests.plugins.search``, as Locust wrote them), the
server's CPU seconds per step (the sweep's sampler) and the scenario's concurrency model
(``loadtests.scenarios``), an entry of ``results.json``'s ``capacity`` list. Two ceilings:

- the concurrency model's: slots / service time (a WSGI worker's threads, a blocked event loop,
  the fan-outs' pooled connections, the database paths' pooled connections: "pool-bound");
  none when only the CPU limits (async views under ASGI);
- the CPU's: the cores the idle server leaves / its CPU-seconds per request, measured in the
  steady part of the highest steps that held (near λ*), with a 95% interval.

The lower one binds; the sentence says which, with the arithmetic and how close λ* came.

Each repeat is a fresh server and a fresh search (``CapacitySearch``): its λ*, bracket and steps
come from that one search; ``lambda_star`` combines them into the entry's λ* with its interval,
and judges it (measurement errors, the theory beside it).
"""

from __future__ import annotations

import math
import statistics

from msgspec import field

from loadtests.model.latency import LatencyMs
from loadtests.scenarios import POOL, SLOTS, Scenario

from . import stats
from .records import Record

CPU = "cpu"
# The CPU per request is taken from the held steps at or above this share of the highest held
# rate: near λ*, where it is what binds (CPU per request falls as the rate rises, so a line
# through every step, or the lowest step, says little about the knee).
NEAR_KNEE = 0.7


class StepCpu(Record, kw_only=True):
    """The server's CPU over a step's steady part: the sampler's readings strictly inside it
    (its warm-up and the drain left out), as cores, with the standard error of their mean."""

    cores: float
    se: float | None = None  # of the mean over the sampling intervals (None: one interval)
    samples: int = 0  # sampling intervals inside the steady part
    span_s: float = 0.0  # the seconds those intervals cover


class CapacityStep(Record, kw_only=True):
    offered_rps: float  # the realised arrival rate: arrivals / the step's paced seconds
    achieved_rps: float
    duration_s: float
    scheduled: int
    sent: int
    completed: int
    errors: int  # failed, unanswered, or dropped (never started)
    late: int  # started more than LATE_MS after their intended instant
    dropped: int
    latency_ms: LatencyMs  # from the intended start
    send_latency_ms: LatencyMs | None = None  # from the actual send
    generator_lag_p99_ms: float
    generator_lag_too_high: bool = False
    verdict: str = ""  # "held", or why the step failed
    server_cpu_s: float | None = None
    server_threads: int | None = None  # the server's most threads (all processes) in the step
    started_at: float = 0.0
    ended_at: float = 0.0
    error_samples: list[str] = field(default_factory=list)
    # The search plugin's judgement (loadtests.plugins.search); absent from older runs.
    seed: int | None = None  # the step's Poisson seed
    target_rps: float | None = None  # the rate the search asked for
    stationary: bool | None = None  # did the step reach and hold a steady state
    judgement: str = ""  # how the step was judged, in words
    p99_ci95: list[float | None] | None = None  # ms, from the intended start
    over_slo: int | None = None  # requests over the SLO
    generator_cpu_share: float | None = None  # of one core, the busiest Locust process
    generator_limited: bool = False  # the generator, not the server, failed the step
    warmup_s: float = 0.0  # the step's start left out of its judgement (and its CPU)
    repeat: int = 1  # which fresh search of the entry (1, 2, ...)
    server_cpu: StepCpu | None = None
    database_cpu: StepCpu | None = None  # PostgreSQL's, for a database path (the lab's cluster)


class CapacityLimit(Record, kw_only=True):
    binds: str | None  # SLOTS, POOL, CPU, or None when neither ceiling is known
    model_rps: float | None  # the concurrency model's ceiling (None: only the CPU limits)
    model: str  # its arithmetic, in words
    cpu_rps: float | None
    cpu_ms_per_request: float | None
    share: float | None  # lambda* / the binding ceiling
    sentence: str
    cpu_rps_ci95: list[float] | None = None  # the CPU ceiling's 95% interval
    # PostgreSQL's CPU per request near λ*, for a database path (its own cores, not the server's)
    database_cpu_ms_per_request: float | None = None


class CapacitySearch(Record, kw_only=True):
    """One fresh server's search: its λ*, bracket and steps belong together."""

    repeat: int
    seed: int | None = None  # the base seed (--arrival-seed) its steps' seeds derive from
    lambda_star_rps: float | None
    bracket: list[float | None]  # [held, failed]
    stopped_because: str = ""
    lower_bound: bool = False  # the generator limited it: λ* is at least this
    steps: int = 0


class RoutePrediction(Record, kw_only=True):
    """A project's route: what ``analysis.prediction`` says beside its measured λ*, from its
    service time S and CPU per request, as its view is written and if it were async."""

    view: str  # as written: "sync" or "async"
    service_ms: float  # S, the pre-flight's median under this kind
    cpu_ms: float  # CPU per request near λ*, the search's
    as_written_rps: float
    as_written_binds: str
    as_written: str  # the arithmetic
    if_async_rps: float
    if_async_binds: str
    if_async: str


class CapacityTheory(Record, kw_only=True):
    """What theory says beside the measured λ*: M/D/c (slot- or pool-bound) or the CPU
    ceiling (CPU-bound), and whether the measurement's interval agrees."""

    model: str  # "M/D/c" or "cpu"
    rps: float
    servers: int | None = None
    service_s: float | None = None  # the view's delay plus its measured overhead
    overhead_ms: float | None = None
    agrees: bool | None = None  # None: no interval to judge by
    sentence: str = ""


def configuration_key(
    server: str, workers: int, threads: int, scenario: str, db_pool: int = 0, variant: str = ""
) -> str:
    """A configuration's name: server/WORKERSxTHREADS/scenario[/poolN][/variant]."""
    pool = f"/pool{db_pool}" if db_pool else ""
    return f"{server}/{workers}x{threads}/{scenario}{pool}" + (f"/{variant}" if variant else "")


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
    repeats: int = 0  # fresh searches (0: a run before the count was kept)
    searches: list[CapacitySearch] = field(default_factory=list)
    lower_bound: bool = False  # a search was generator-limited: λ* is at least this
    idle_cores: float | None = None  # the server's CPU, ready and idle, before the first step
    measurement_error: str = ""  # why λ* cannot be a result ("" : it can)
    theory: CapacityTheory | None = None
    # The app's instrumentation stack (loadtests.observability.stacks); schema 6 migrates older
    # runs' to the stack they ran (their variants: off is none, this is lab).
    instrumentation: str = ""
    thread_hops: float | None = None  # per request under ASGI (loadtests.observability.hops)
    route: str | None = None  # a project of the user's: the route's URL name, else its path
    prediction: RoutePrediction | None = None  # beside a project's route's λ*

    @property
    def key(self) -> str:
        """server/WORKERSxTHREADS/scenario[/poolN][/variant], as ``make capacity MATCH`` sees it."""
        return configuration_key(
            self.server, self.workers, self.threads, self.scenario, self.db_pool_size, self.variant
        )

    @property
    def is_result(self) -> bool:
        """A λ* the report may quote: measured, and not a measurement error."""
        return self.lambda_star_rps is not None and not self.measurement_error and not self.error


def model_ceiling(
    spec: Scenario,
    server: str,
    workers: int,
    threads: int,
    delay: float,
    fanout: int,
    pool: int,
    db_pool: int = 0,
) -> tuple[float | None, str]:
    """The concurrency model's ceiling in requests/s, with its arithmetic (None: no slot limit)."""
    slots, held = spec.slots(server, workers, threads, fanout, pool, db_pool)
    service = spec.service_time(delay, fanout)
    if slots is None:
        return None, "no slot limit: each request waits without holding a thread or the loop"
    if service <= 0:
        return None, f"{held}, with no waiting: only the CPU limits"
    return slots / service, f"{held} / {service:g} s = {slots / service:,.0f} req/s"


def model_kind(
    spec: Scenario,
    server: str,
    workers: int,
    threads: int,
    fanout: int,
    pool: int,
    db_pool: int = 0,
) -> str:
    """What the model's ceiling is made of: SLOTS, or POOL when database connections bind."""
    limits = spec.slot_limits(server, workers, threads, fanout, pool, db_pool)
    # On a tie the threads are named: the pool would not bind without them.
    return min(limits, key=lambda limit: (limit[0], limit[2] == POOL))[2] if limits else SLOTS


class CpuCeiling(Record, kw_only=True):
    rps: float
    ms_per_request: float
    rps_ci95: list[float] | None = None


def cpu_ceiling(
    steps: list[CapacityStep], cores: int, idle_cores: float | None = None
) -> CpuCeiling | None:
    """The requests/s the server's CPUs allow, with its 95% interval, from the steps near λ*.

    CPU per request = (cores used in a step's steady part - the idle server's) / the requests it
    answered per second, from the held steps at or above ``NEAR_KNEE`` of the highest held rate; the
    ceiling = (cores - idle) / it. Several such steps: Student's t over them; one: over its
    sampling intervals. Steps without a steady-part reading (older runs) use their whole span.
    """
    idle = idle_cores or 0.0
    near = _near_knee(steps, lambda s: s.completed > 0 and _cores(s) is not None)
    per_request = [max(_cores(s) - idle, 0.0) / _served(s) for s in near if _served(s) > 0]
    per_request = [x for x in per_request if x > 0]
    if not per_request:
        return None
    room = cores - idle
    interval = stats.mean_ci95(per_request)
    if interval is None:  # one step: its own sampling intervals give the spread
        (step,) = [s for s in near if max(_cores(s) - idle, 0.0) > 0][:1]
        cpu = step.server_cpu
        if cpu is not None and cpu.se is not None and cpu.samples > 1:
            half = stats.t_975(cpu.samples - 1) * cpu.se / _served(step)
            interval = (per_request[0], per_request[0] - half, per_request[0] + half)
    mean = statistics.fmean(per_request)
    ci = None
    if interval is not None:
        low_ms, high_ms = interval[1], interval[2]
        ci = [round(room / high_ms, 1), round(room / low_ms, 1) if low_ms > 0 else math.inf]
    return CpuCeiling(rps=room / mean, ms_per_request=mean * 1000.0, rps_ci95=ci)


def _near_knee(steps: list[CapacityStep], measured) -> list[CapacityStep]:
    """The held steps ``measured`` accepts, at or above ``NEAR_KNEE`` of the highest one's rate."""
    held = [s for s in steps if s.verdict == "held" and measured(s)]
    top = max((s.offered_rps for s in held), default=0.0)
    return [s for s in held if s.offered_rps >= NEAR_KNEE * top]


def _served(step: CapacityStep) -> float:
    """Requests answered per second: a step that did not keep up answered fewer than arrived,
    and its CPU per request must count those, or the ceiling would rise with the backlog."""
    return step.achieved_rps or step.offered_rps


def database_cpu_ms(steps: list[CapacityStep]) -> float | None:
    """PostgreSQL's CPU ms per answered request in the held steps near λ* (None: not sampled)."""
    near = _near_knee(steps, lambda s: s.database_cpu and _served(s) > 0)
    if not near:
        return None
    return statistics.fmean(s.database_cpu.cores / _served(s) for s in near) * 1000.0


def _cores(step: CapacityStep) -> float | None:
    """Cores the server used over the step: its steady part, else its whole span (old runs)."""
    if step.server_cpu is not None:
        return step.server_cpu.cores
    span = step.ended_at - step.started_at
    return step.server_cpu_s / span if step.server_cpu_s and span > 0 else None


def binding_limit(
    lambda_star: float | None,
    model: tuple[float | None, str],
    cpu: CpuCeiling | tuple[float | None, float | None] | None,
    generator_limited: bool = False,
    model_binds: str = SLOTS,
) -> CapacityLimit:
    model_rps, model_text = model
    if isinstance(cpu, CpuCeiling):
        cpu_rps, cpu_ms, cpu_ci = cpu.rps, cpu.ms_per_request, cpu.rps_ci95
    else:
        (cpu_rps, cpu_ms), cpu_ci = cpu or (None, None), None
    ceilings = {k: v for k, v in ((model_binds, model_rps), (CPU, cpu_rps)) if v}
    binds = min(ceilings, key=ceilings.get) if ceilings else None
    share = lambda_star / ceilings[binds] if binds and lambda_star else None
    cpu_text = (
        f"1 / {cpu_ms:.2f} ms of server CPU per request = {cpu_rps:,.0f} req/s"
        + (f" (95% CI {cpu_ci[0]:,.0f}-{cpu_ci[1]:,.0f})" if cpu_ci else "")
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
        binds=binds,
        model_rps=_round(model_rps),
        model=model_text,
        cpu_rps=_round(cpu_rps),
        cpu_ms_per_request=_round(cpu_ms, 4),
        share=_round(share, 3),
        sentence=sentence,
        cpu_rps_ci95=cpu_ci,
    )


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
