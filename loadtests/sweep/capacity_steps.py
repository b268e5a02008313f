"""A capacity search's output read into the entry's records: each step with its server CPU over
its steady part, the search's outcome, the idle server, and the search's fresh seed.

The plugin's output is read right after the same code wrote it (``loadtests.plugins.open_model``:
each step's ``target_rps``, realised ``offered_rps``, seed and verdict; the search's
``lambda_star_rps``, ``bracket``, ``lower_bound``); stored runs keep only results.json.
"""

from __future__ import annotations

import hashlib
import itertools
import statistics

import msgspec

from loadtests.analysis.capacity import CapacitySearch, CapacityStep, StepCpu

from .sampler import Sample, TreeSampler

SEED_RANGE = 2**31 - 1
STEP_FIELDS = frozenset(f.name for f in msgspec.structs.fields(CapacityStep))


def arrival_seed(run_id: str, key: str, repeat: int) -> int:
    """The base seed of one search: from the run, the configuration and the repeat, so that
    every search draws fresh arrivals and the same run id draws them again."""
    digest = hashlib.blake2b(f"{run_id}/{key}/{repeat}".encode(), digest_size=8).digest()
    return 1 + int.from_bytes(digest, "big") % SEED_RANGE


def steady_cpu(samples: list[Sample], start: float, end: float) -> StepCpu | None:
    """The server's cores over [start, end] from the sampler's readings strictly inside it, so
    that no reading spans a neighbouring step; with fewer than two inside, None."""
    inside = [s for s in samples if start <= s.unix <= end]
    if len(inside) < 2:
        return None
    rates = [
        (b.cpu_s - a.cpu_s) / (b.unix - a.unix)
        for a, b in itertools.pairwise(inside)
        if b.unix > a.unix
    ]
    span = inside[-1].unix - inside[0].unix
    if not rates or span <= 0:
        return None
    se = statistics.stdev(rates) / len(rates) ** 0.5 if len(rates) > 1 else None
    cores = (inside[-1].cpu_s - inside[0].cpu_s) / span
    se = None if se is None else round(se, 5)
    return StepCpu(cores=round(cores, 5), se=se, samples=len(rates), span_s=round(span, 3))


def step_record(step: dict, repeat: int, sampler: TreeSampler) -> CapacityStep:
    """One step of the plugin's output as the entry keeps it, with the server's CPU. Keys this
    code does not know are left out, so a newer plugin's output still reads."""
    step = {k: v for k, v in step.items() if k in STEP_FIELDS}
    begin = step.get("started_at", 0.0)
    steady = (begin + (step.get("warmup_s") or 0.0), begin + step.get("duration_s", 0.0))
    cpu = steady_cpu(sampler.samples.get("server", []), *steady)
    db = steady_cpu(sampler.samples.get("database", []), *steady)
    use = sampler.window("server", step["started_at"], step["ended_at"])
    step |= {
        "server_cpu_s": use["cpu_percent"] / 100 * (step["ended_at"] - step["started_at"])
        if use
        else None,
        "server_threads": use["threads"] if use else None,
        "server_cpu": msgspec.to_builtins(cpu) if cpu else None,
        "database_cpu": msgspec.to_builtins(db) if db else None,
        "repeat": repeat,
    }
    return msgspec.convert(step, CapacityStep)


def search_record(raw: dict, repeat: int, seed: int) -> CapacitySearch:
    """The search's outcome: the plugin's ``search`` object (λ*, bracket, lower bound)."""
    found = raw.get("search") or {}
    return CapacitySearch(
        repeat=repeat,
        seed=seed,
        lambda_star_rps=found.get("lambda_star_rps"),
        bracket=list(found.get("bracket") or [None, None]),
        stopped_because=found.get("stopped_because", ""),
        lower_bound=bool(found.get("lower_bound")),
        steps=found.get("steps", len(raw.get("steps", []))),
    )


def idle_use(raw: dict, sampler: TreeSampler) -> tuple[int | None, float | None]:
    """The server's threads and cores before the first step (ready, pinned, no load yet)."""
    first = raw["steps"][0]["started_at"] if raw["steps"] else None
    before = [s for s in sampler.samples["server"] if first and s.unix < first]
    threads = min(s.threads for s in before) if before else None
    span = before[-1].unix - before[0].unix if len(before) > 1 else 0.0
    cores = (before[-1].cpu_s - before[0].cpu_s) / span if span > 0 else None
    return threads, cores
