"""An entry's λ* from its fresh searches, and what may be said of it.

Pure, on ``analysis.capacity``'s records. An entry's λ* is the mean of its searches' λ*, with
Student's t 95% interval over them (``combine``); the bracket's edges are the searches' means
too. Two entries compare as a ratio with Welch's interval (``lambda_ratio``). A λ* above the
CPU ceiling's interval, or above the throughput the same server reached when saturated, is a
measurement error (``measurement_error``), never a result. Beside it, the theory (``theory``):
M/D/c (``analysis.queueing``) for a slot- or pool-bound configuration, the CPU ceiling for a
CPU-bound one.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from . import queueing, stats
from .capacity import CPU, CapacityEntry, CapacitySearch, CapacityTheory, _round
from .thresholds import REACHED_SHARE

# Fresh searches per configuration for λ*'s interval: Student's t then has 2 degrees of freedom.
REPEATS = 3


def combine(
    searches: list[CapacitySearch],
) -> tuple[float | None, list[float | None], list[float] | None]:
    """(λ*, bracket, λ*'s 95% interval) of an entry from its fresh searches.

    λ* is the mean of the searches' λ* and its interval Student's t over them (two or more;
    each search is known only to within its bracket, which the interval does not widen); the
    bracket's edges are the means of the searches' edges. One search: its own λ* and bracket.
    None when a search found no rate that held.
    """
    lambdas = [s.lambda_star_rps for s in searches]
    if not searches or None in lambdas:
        first = searches[0].bracket if len(searches) == 1 else [None, None]
        return None, first, None
    held = [s.bracket[0] for s in searches]
    failed = [s.bracket[1] for s in searches]
    bracket = [
        _round(statistics.fmean(edges), 2) if None not in edges else None
        for edges in (held, failed)
    ]
    mean = statistics.fmean(lambdas)
    interval = stats.mean_ci95(lambdas)
    ci = [round(max(interval[1], 0.0), 1), round(interval[2], 1)] if interval else None
    return _round(mean, 2), bracket, ci


def saturation_rps(entry: CapacityEntry, cells: list) -> float | None:
    """The highest throughput (its interval's upper end) the same server, workers, threads and
    view reached in the closed-loop cells when the server, not the users, bound: a steady open
    rate above it cannot be held. Only a cell of fresh runs judges: one start's windows leave
    out the drift between it and the search, which could then pass for an error."""
    tops = [
        c.rps_ci95[1]
        for c in cells
        if (c.server, c.workers, c.threads, c.scenario)
        == (entry.server, entry.workers, entry.threads, entry.scenario)
        and c.rps_ci95
        and (c.repeats or 1) > 1
        and c.restart_per_repeat is not False
        and not c.error
        and c.efficiency is not None
        and c.efficiency < REACHED_SHARE  # the users did not bind: the server did
    ]
    return max(tops) if tops else None


def measurement_error(entry: CapacityEntry, saturation: float | None = None) -> str:
    """Why the entry's λ* cannot be a result ("" : it can): above the CPU ceiling's interval,
    or above the saturation throughput."""
    lam = entry.lambda_star_rps
    if lam is None:
        return ""
    limit = entry.limit
    cpu_high = limit.cpu_rps_ci95[1] if limit.cpu_rps_ci95 else None
    if cpu_high is not None and lam > cpu_high:
        return (
            f"λ* {lam:,.0f} req/s is above the CPU ceiling's 95% interval "
            f"({limit.cpu_rps_ci95[0]:,.0f}-{cpu_high:,.0f} req/s): no steady rate can exceed "
            "what the CPU serves, so the steps that held did not reach steady state"
        )
    if saturation is not None and lam > saturation:
        return (
            f"λ* {lam:,.0f} req/s is above the {saturation:,.0f} req/s the same server reached "
            "saturated by the closed-loop users: it cannot hold that rate in steady state"
        )
    return ""


def overhead_ms(entry: CapacityEntry, service_s: float) -> float | None:
    """What a request takes beyond its service time at the lowest held rate (the median from
    the actual send, less the service time): the view's own overhead, nearly unqueued."""
    held = [s for s in entry.steps if s.verdict == "held" and s.send_latency_ms]
    held = [s for s in held if s.send_latency_ms.p50 is not None]
    if not held:
        return None
    low = min(held, key=lambda s: s.offered_rps)
    return max(low.send_latency_ms.p50 - service_s * 1000.0, 0.0)


def theory(entry: CapacityEntry, slots: int | None, service_s: float) -> CapacityTheory | None:
    """The theory beside λ*: M/D/c with c = ``slots`` and service = ``service_s`` + the measured
    overhead for a slot- or pool-bound entry; the CPU ceiling for a CPU-bound one. It agrees
    when it lies within λ*'s interval (the bracket, with one search)."""
    lam, limit = entry.lambda_star_rps, entry.limit
    if lam is None or limit.binds is None:
        return None
    interval = entry.lambda_star_ci95 or list(entry.lambda_star_bracket)
    if limit.binds == CPU:
        if limit.cpu_rps is None:
            return None
        ci = limit.cpu_rps_ci95
        agrees = None if not ci else lam <= ci[1]
        sentence = (
            f"CPU ceiling {limit.cpu_rps:,.0f} req/s"
            + (f" (95% CI {ci[0]:,.0f}-{ci[1]:,.0f})" if ci else "")
            + f"; λ* {lam:,.0f} req/s is {lam / limit.cpu_rps:.0%} of it"
        )
        return CapacityTheory(model="cpu", rps=limit.cpu_rps, agrees=agrees, sentence=sentence)
    if not slots or service_s <= 0:
        return None
    extra = overhead_ms(entry, service_s)
    service = service_s + (extra or 0.0) / 1000.0
    rps = queueing.mdc_lambda_star(slots, service, entry.slo_p99_ms)
    low, high = interval if None not in interval else (None, None)
    agrees = None if low is None else low <= rps <= high
    overhead = f" + {extra:.1f} ms measured overhead" if extra is not None else ""
    verdict = {True: "within", False: "outside", None: "no interval for"}[agrees]
    sentence = (
        f"M/D/{slots} with service {service_s * 1000:g} ms{overhead} and the SLO "
        f"p99 <= {entry.slo_p99_ms:g} ms: λ* {rps:,.1f} req/s, {verdict} the measured "
        f"{'interval' if entry.lambda_star_ci95 else 'bracket'}"
        + (f" [{low:,.1f}, {high:,.1f}]" if low is not None else "")
    )
    return CapacityTheory(
        model="M/D/c",
        rps=round(rps, 1),
        servers=slots,
        service_s=round(service, 5),
        overhead_ms=_round(extra, 2),
        agrees=agrees,
        sentence=sentence,
    )


def lambda_ratio(a: CapacityEntry, b: CapacityEntry) -> tuple[stats.Ratio, float] | None:
    """λ*(a) / λ*(b) over their fresh searches, with Welch's 95% interval on the log scale, and
    the smallest ratio the searches could have detected (``stats.detectable_ratio``). None
    unless each entry has two or more searches that found a λ*."""
    values = [[x for x in e.repeats_lambda_star_rps if x is not None] for e in (a, b)]
    if any(len(v) != len(e.repeats_lambda_star_rps) for v, e in zip(values, (a, b), strict=True)):
        return None
    welch = stats.welch_log_ratio(*values)
    if welch is None:
        return None
    value, se, df = welch
    half = stats.t_975(df) * se
    ratio = stats.Ratio(value, value * math.exp(-half), value * math.exp(half))
    return ratio, stats.detectable_ratio(se, df)


@dataclass(frozen=True)
class Compared:
    """λ*(a) / λ*(b) over their searches, as far as the searches bound it."""

    ratio: stats.Ratio
    detectable: float  # the smallest ratio these searches could have told from 1
    bound: str  # "": the ratio itself; "at most" / "at least": one side's λ* is a lower bound

    @property
    def significant(self) -> bool:
        """The interval leaves 1 out on the side the bound still holds."""
        if self.bound == "at most":
            return self.ratio.high < 1.0
        if self.bound == "at least":
            return self.ratio.low > 1.0
        return self.ratio.significant

    def text(self) -> str:
        if not self.bound:
            return self.ratio.text()
        r, d = self.ratio, stats.ratio_digits(self.ratio.low, self.ratio.high)
        return f"{self.bound} {r.value:.{d}f}x (95% CI {r.low:.{d}f}-{r.high:.{d}f})"


def bounded_ratio(e: CapacityEntry, base: CapacityEntry) -> Compared | None:
    """``e`` against ``base``; None without an interval (one search a side), or when both λ*
    are lower bounds (the generator limited both: their ratio bounds nothing). A lower bound
    on one side bounds the ratio on one side: the baseline's true λ* is higher, so the ratio
    is at most what was measured; ``e``'s, at least."""
    if e.lower_bound and base.lower_bound:
        return None
    found = lambda_ratio(e, base)
    if found is None:
        return None
    bound = "at most" if base.lower_bound else "at least" if e.lower_bound else ""
    return Compared(found[0], found[1], bound)
