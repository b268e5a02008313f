"""What a route could serve under each server kind, as written and if its view were async.

Pure. From a route's measured costs (``RouteCost``: its service time S, the server-side time
one request takes at low load; its CPU per request; the rest of S is waiting), each kind's
ceiling in requests/s is the lowest of:

- the threads: a thread-per-request server (gunicorn gthread, granian WSGI) holds one of its
  workers x threads for all of S, sync or async view alike (an async view under WSGI runs in
  ``async_to_sync`` inside that thread): workers x threads / S;
- the database pool, when the route holds one of a worker's ``pool`` connections for S:
  workers x pool / S;
- the CPU: cores / CPU per request, under every kind;
- under an ASGI kind, for an async view that makes a blocking call (``ASYNC_BLOCKING``), the
  event loops it stops: workers / S.

Under an ASGI kind an async view waits on the event loop and holds nothing: only the CPU (and a
pool) bound it. A sync view under ASGI is no different in this model, and that is Django's
doing, not a guess: its ASGI handler enters asgiref's ``ThreadSensitiveContext`` for every
request, so ``sync_to_async(thread_sensitive=True)`` runs each request's sync view in a
single-thread executor of its own: one thread per request in flight, with no pool to wait for
(``loadtests.scenarios`` models the lab's own views the same way). What a sync view costs there
is CPU (a thread's start and switches) and memory, which its measured CPU per request holds.
"If async" keeps the measured CPU per request: the model has no way to know how much an async
rewrite saves or adds.

``validate`` checks this on the lab's own runs: each capacity entry predicted from its own
costs, and each sync view's "if async" prediction against its async twin measured.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from loadtests.scenarios import ASYNC, ASYNC_BLOCKING, SCENARIOS, SYNC
from mysite.servers import WSGI_KINDS

from .capacity import CPU, CapacityEntry
from .results import Results

THREADS, LOOPS, POOL_BOUND = "threads", "loops", "pool"  # the bounds beside capacity's CPU


@dataclass(frozen=True)
class RouteCost:
    service_s: float  # S: one request's server-side time at low load
    cpu_s: float  # server CPU seconds per request
    pool: int | None = None  # connections per worker the route holds for S (None: none)

    @property
    def waiting_s(self) -> float:
        """The part of S spent waiting (a query, an upstream, a sleep), not computing."""
        return max(self.service_s - self.cpu_s, 0.0)


@dataclass(frozen=True)
class Prediction:
    server: str
    workers: int
    threads: int
    view: str  # SYNC, ASYNC or ASYNC_BLOCKING
    rps: float
    binds: str  # THREADS, LOOPS, POOL_BOUND or CPU
    arithmetic: str


def predict(
    cost: RouteCost, server: str, workers: int, threads: int, cores: float, view: str
) -> Prediction:
    """The ceiling of ``view`` served by ``server``, with its arithmetic. ``view``: SYNC, ASYNC,
    or ASYNC_BLOCKING (an async view making a blocking call, which stops its worker's loop)."""
    s = cost.service_s
    bounds = [(cores / cost.cpu_s, CPU, f"{cores:g} cores / {cost.cpu_s * 1000:.2f} ms CPU")]
    if server in WSGI_KINDS:
        held = f"{workers} x {threads} threads / {s * 1000:.0f} ms"
        bounds.append((workers * threads / s, THREADS, held))
    elif view == ASYNC_BLOCKING:
        bounds.append((workers / s, LOOPS, f"{workers} blocked loop(s) / {s * 1000:.0f} ms"))
    if cost.pool:
        held = f"{workers} x {cost.pool} connections / {s * 1000:.0f} ms"
        bounds.append((workers * cost.pool / s, POOL_BOUND, held))
    rps, binds, arithmetic = min(bounds)
    return Prediction(server, workers, threads, view, rps, binds, f"{arithmetic} = {rps:,.0f}/s")


@dataclass(frozen=True)
class Check:
    """A prediction beside the measured λ* of ``measured`` (a capacity entry's key)."""

    measured: str
    basis: str  # the entry whose costs the prediction used (itself, or its sync twin)
    predicted_rps: float
    measured_rps: float
    binds: str

    @property
    def ratio(self) -> float:
        """measured / predicted: under 1, λ* (held to a p99 objective) fell short of the ceiling."""
        return self.measured_rps / self.predicted_rps


def entry_cost(entry: CapacityEntry) -> RouteCost | None:
    """An entry's costs: S the client's median at the lowest held step (loopback; the stored
    runs keep no server-side latency per step), CPU per request near λ*."""
    held = [s for s in entry.steps if s.verdict == "held" and s.latency_ms.p50 is not None]
    cpu_ms = entry.limit.cpu_ms_per_request
    if not held or not cpu_ms:
        return None
    lowest = min(held, key=lambda step: step.offered_rps)
    return RouteCost(lowest.latency_ms.p50 / 1000, cpu_ms / 1000, entry.db_pool_size or None)


def server_cores(entry: CapacityEntry, run: Results) -> float:
    """The cores the server had as the capacity map counted them (the sweep pins it to its own
    CPUs, less what the idle server used): its CPU ceiling x CPU per request."""
    limit = entry.limit
    if limit.cpu_rps and limit.cpu_ms_per_request:
        return limit.cpu_rps * limit.cpu_ms_per_request / 1000
    return run.meta.machine.cpus_available or run.meta.machine.cpu_count or 1


def validate(run: Results) -> list[Check]:
    """Every capacity entry of the lab's own views with a λ* and costs, predicted as it is and,
    for a sync view with an async twin in the run (one that waits alike), predicted if async
    against the twin's λ*."""
    views = {name: (s.view, s.wait) for name, s in SCENARIOS.items()}
    entries = [e for e in run.capacity if e.is_result and entry_cost(e) and e.scenario in views]
    checks = []
    for entry in entries:
        cost, (view, wait) = entry_cost(entry), views[entry.scenario]
        room = server_cores(entry, run)
        as_is = predict(cost, entry.server, entry.workers, entry.threads, room, view)
        checks.append(Check(entry.key, entry.key, as_is.rps, entry.lambda_star_rps, as_is.binds))
        if view != SYNC:
            continue
        if_async = predict(cost, entry.server, entry.workers, entry.threads, room, ASYNC)
        checks += [
            Check(twin.key, entry.key, if_async.rps, twin.lambda_star_rps, if_async.binds)
            for twin in entries
            if views[twin.scenario] == (ASYNC, wait)
            # Under the same instrumentation too: a stack's CPU is part of the cost predicted.
            and (twin.server, twin.workers, twin.threads, twin.db_pool_size, twin.instrumentation)
            == (
                entry.server,
                entry.workers,
                entry.threads,
                entry.db_pool_size,
                entry.instrumentation,
            )
        ]
    return checks


def agreement(checks: list[Check]) -> str:
    """How close prediction and measurement came, in one sentence."""
    ratios = [c.ratio for c in checks]
    twins = [c.ratio for c in checks if c.basis != c.measured]
    geometric = math.exp(statistics.fmean(math.log(r) for r in ratios))
    return (
        f"over {len(ratios)} capacity entries, measured λ* was {min(ratios):.2f}-"
        f"{max(ratios):.2f} of the predicted ceiling (geometric mean {geometric:.2f}); "
        f"for the {len(twins)} async twins predicted from their sync view's costs, "
        f"{min(twins):.2f}-{max(twins):.2f}"
    )
