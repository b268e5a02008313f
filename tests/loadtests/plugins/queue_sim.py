"""Simulated servers for the capacity search's tests: queues whose steady-state answer is known.

A server turns Poisson arrival instants (seconds) into each request's time in the system:

- ``SlotServer``: c slots, each request holding one for a fixed service time, first come first
  served (M/D/c): a gthread worker's threads, a connection pool. Request n starts when it has
  arrived and request n - c has left, so each residue class mod c is a Lindley recursion,
  solved at once by a running maximum;
- ``CpuServer``: one core shared first come first served (M/D/1, or M/M/1 with
  ``poisson=True``), then a fixed wait off the CPU (the view's sleep): an event loop.

``run_step`` plays one step as the pacer does (the queue empty at the start, the verdict looked
at every ``CHECK_EVERY_S`` once it may be decided), ``run_search`` a whole search, and
``truth_rps`` finds the highest rate whose steady-state share over the SLO is at most 1% by a
long simulation with common random numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loadtests.plugins.search import ALLOWED_SHARE, CHECK_EVERY_S, Judgement, Search, StepPlan
from loadtests.plugins.trace import StepTrace, arrival_schedule, step_seed


@dataclass(frozen=True)
class SlotServer:
    slots: int
    service_s: float = 0.1

    @property
    def ceiling_rps(self) -> float:
        return self.slots / self.service_s

    def sojourn(self, arrivals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        start = np.empty_like(arrivals)
        for r in range(self.slots):
            chain = arrivals[r :: self.slots]
            k = np.arange(len(chain)) * self.service_s
            start[r :: self.slots] = k + np.maximum.accumulate(chain - k)
        return start + self.service_s - arrivals


@dataclass(frozen=True)
class CpuServer:
    cpu_s: float = 0.002
    wait_s: float = 0.1
    poisson: bool = False

    @property
    def ceiling_rps(self) -> float:
        return 1.0 / self.cpu_s

    def sojourn(self, arrivals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        service = (
            rng.exponential(self.cpu_s, len(arrivals))
            if self.poisson
            else np.full(len(arrivals), self.cpu_s)
        )
        work = np.cumsum(service)
        # d_n = max(a_n, d_(n-1)) + s_n, so d_n - W_n = max over k <= n of (a_k - W_(k-1)).
        leave = work + np.maximum.accumulate(arrivals - (work - service))
        return leave - arrivals + self.wait_s


def poisson_arrivals(rate: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    return arrival_schedule(rate, seconds, rng)


def _trace(arrivals: np.ndarray, done: np.ndarray, paced_s: float, seed: int) -> StepTrace:
    # Arrays where the pacer keeps lists: the trace only reads them (``arrays``).
    return StepTrace(
        intended=arrivals,
        began=arrivals,
        sent=arrivals,
        done=done,
        failed=np.zeros(len(arrivals), dtype=bool),
        paced_s=paced_s,
        seed=seed,
    )


def step_trace(server, rate: float, seconds: float, seed: int) -> StepTrace:
    """A whole step at ``rate`` on ``server`` from an empty queue, every request answered."""
    rng = np.random.default_rng(seed)
    arrivals = poisson_arrivals(rate, seconds, rng)
    return _trace(arrivals, arrivals + server.sojourn(arrivals, rng), seconds, seed)


def run_step(search: Search, plan: StepPlan, server, seed: int) -> Judgement:
    rng = np.random.default_rng(seed)
    arrivals = poisson_arrivals(plan.rate, plan.longest_s, rng)
    done = arrivals + server.sojourn(arrivals, rng)
    end = plan.longest_s
    now = plan.shortest_s
    while now < plan.longest_s and not plan.calibration:
        seen = arrivals <= now
        so_far = np.where(done[seen] <= now, done[seen], np.nan)
        if search.should_stop(plan, _trace(arrivals[seen], so_far, now, seed), now):
            end = now
            break
        now += CHECK_EVERY_S
    kept = arrivals <= end
    trace = _trace(arrivals[kept], done[kept], end, seed)
    return search.judge(plan, trace)  # every request answered: no errors


def run_search(
    search: Search, server, base_seed: int
) -> tuple[Search, list[tuple[StepPlan, Judgement]]]:
    steps = []
    while (plan := search.next_step()) is not None:
        outcome = run_step(search, plan, server, step_seed(base_seed, plan.index))
        search.record(plan, outcome)
        steps.append((plan, outcome))
    return search, steps


def steady_share_over(
    server, rate: float, slo_s: float, uniforms: np.ndarray, rng_seed: int
) -> float:
    """The share of requests over the SLO in a long run at ``rate`` (warm-up dropped)."""
    arrivals = np.cumsum(-np.log(uniforms) / rate)
    sojourn = server.sojourn(arrivals, np.random.default_rng(rng_seed))
    return float(np.mean(sojourn[len(sojourn) // 20 :] > slo_s))


def truth_rps(server, slo_ms: float, requests: int = 500_000, seed: int = 12345) -> float:
    """The highest rate whose steady-state share over ``slo_ms`` is at most 1% (to 0.1%)."""
    uniforms = np.random.default_rng(seed).random(requests)
    low, high = 0.3 * server.ceiling_rps, server.ceiling_rps
    for _ in range(10):
        middle = (low + high) / 2
        if steady_share_over(server, middle, slo_ms / 1000.0, uniforms, seed) <= ALLOWED_SHARE:
            low = middle
        else:
            high = middle
    return low
