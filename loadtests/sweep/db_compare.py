"""The database comparison: the three paths on ONE server, in alternating windows, paired.

The three database views are served by the same server with the same settings, so the sweep
compares them on one uvicorn worker (the one kind that runs all three), started once: a closed
loop of ``users`` switches path every window, in rounds (A B C, B C A, C A B, ...: each path in
each position alike), after a warm-up window per path that opens the pools. The pool
(``DB_POOL_SIZE``) is above the users, so it never binds: what differs between the paths is
what each request costs the server (CPU, threads) and the time it adds to the query's ``delay``,
not a ceiling they share by construction. Each window gives its rate, p50 and p99, the server's
CPU per request and threads held; ``analysis.db_compare`` pairs them by round. Fresh starts
per repeat would add start-to-start noise to a comparison of one server's three routes; a
round's windows share the machine's state, and the rounds' spread gives the interval.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from loadtests.analysis import db_compare as analysis
from loadtests.analysis import usage
from loadtests.analysis.results import Results
from loadtests.scenarios import DB_SCENARIOS, LOAD_ROWS
from mysite.db import cluster as pg
from mysite.launcher import DEFAULT_THREADS, ServerFailed

from . import phase
from .capacity_plan import CAPACITY_DELAY_S
from .cell import Context
from .phase import Experiment
from .sampler import IO_INTERVAL, TreeSampler

IDLE_S = 0.75  # the server's idle threads are sampled this long before the load
DRIVER_MARGIN_S = 30.0  # the load process's own limit beyond its schedule


@dataclass(frozen=True)
class ComparePlan:
    server: str = "uvicorn"
    workers: int = 1
    users: int = 32
    delay_s: float = CAPACITY_DELAY_S
    rows: int = LOAD_ROWS
    db_pool_size: int = 64  # per worker and path: above the users, so the pool never binds
    window_s: float = 1.5  # seconds per path per round
    settle_s: float = 0.3  # the window's first seconds, not measured: the last path drains
    rounds: int = 6
    paths: tuple[str, ...] = tuple(DB_SCENARIOS)
    warm: float = 1.0  # seconds per path before the first round (pools open on first use)

    def schedule(self) -> list[tuple[str, int]]:
        """(path, round) of each window in order: round 0 is the warm-up."""
        warm = [(p, 0) for p in self.paths]
        n = len(self.paths)
        rounds = [(self.paths[(i + r) % n], r + 1) for r in range(self.rounds) for i in range(n)]
        return warm + rounds

    def load_seconds(self) -> float:
        return len(self.paths) * (self.warm + self.rounds * self.window_s)

    def estimate(self, start_cost: float) -> float:
        """Seconds the phase should take: a server start, PostgreSQL's, the load."""
        return 2 * start_cost + IDLE_S + self.load_seconds()


# The sweep's profiles that run it (when their own matrix runs), and its settings per profile.
PLANS = {"default": ComparePlan(), "full": ComparePlan(rounds=12, window_s=3.0)}


def _fields(plan: ComparePlan) -> dict:
    """The comparison record's fields that the plan sets (all its fields but the warm-up)."""
    fields = asdict(plan) | {"paths": list(plan.paths)}
    return {name: value for name, value in fields.items() if name != "warm"}


def _spec(plan: ComparePlan, url: str, cpus) -> dict:
    """The paired load's spec, with what the analysis reads besides its windows."""
    schedule = plan.schedule()
    return {
        "url": url,
        "users": plan.users,
        "query": f"delay={plan.delay_s:g}&rows={plan.rows}",
        "paths": [DB_SCENARIOS[p].path for p, _ in schedule],
        "windows_s": [plan.warm if r == 0 else plan.window_s for _, r in schedule],
        "stagger_s": plan.delay_s,
        "lead_s": 0.2,
        "cpus": sorted(cpus) if cpus else None,
        "plan": _fields(plan),
        "schedule": schedule,
    }


def measure(plan: ComparePlan, ctx: Context) -> analysis.DbComparison:
    """The paths compared (a failure is the record's ``error``)."""
    try:
        return analysis.read(_run(plan, ctx))
    except (pg.ClusterError, ServerFailed, OSError, ValueError, subprocess.SubprocessError) as e:
        return analysis.DbComparison(**_fields(plan), error=str(e))


def _run(plan: ComparePlan, ctx: Context) -> Path:
    """Run the paired load on a fresh server; the directory of its raw files."""
    out_dir = ctx.run_dir / "db-comparison"
    out_dir.mkdir(parents=True, exist_ok=True)
    spec_path, out = out_dir / analysis.SPEC, out_dir / analysis.LOAD
    env = {"MYSITE_LOG_LEVEL": "WARNING", "DB_POOL_SIZE": str(plan.db_pool_size)}
    env |= ctx.database() if ctx.database else {}
    with ctx.server(plan.server, plan.workers, out_dir, env, threads=DEFAULT_THREADS) as server:
        ctx.settle()
        spec_path.write_text(json.dumps(_spec(plan, server.url, ctx.generator.cpus)))
        argv = [sys.executable, "-m", "loadtests.sweep.paired_load", str(spec_path), str(out)]
        with TreeSampler({"server": server.pid}, IO_INTERVAL, io=True) as sampler:
            time.sleep(IDLE_S)
            limit = plan.load_seconds() + DRIVER_MARGIN_S
            done = subprocess.run(argv, capture_output=True, text=True, timeout=limit)
    if done.returncode != 0 or not out.exists():
        raise ServerFailed(f"the paired load exited with {done.returncode}: {done.stderr[-800:]}")
    usage.write(out_dir / analysis.SAMPLES, sampler.samples)
    return out_dir


def describe(compared: analysis.DbComparison) -> str:
    if compared.error:
        return f"failed: {compared.error}"
    return f"{len(compared.windows)} windows, {len(compared.contrasts)} contrasts"


def run_phase(
    profile: str,
    ctx: Context,
    record: Results,
    save: Callable[[], None],
    note: Callable[[str], None],
    plan: ComparePlan | None = None,
) -> int:
    """Compare the paths (the profile's plan, or ``plan``); 1 if it could not be measured."""
    plan = plan or PLANS.get(profile, PLANS["default"])
    note(
        f"database comparison: {', '.join(plan.paths)} on {plan.server} x{plan.workers}, "
        f"{plan.rounds} rounds of {plan.window_s:g} s windows"
    )

    def keep(compared: analysis.DbComparison) -> None:
        record.db_comparison = compared

    compare = Experiment("database comparison", lambda: measure(plan, ctx), keep, describe)
    return phase.run([compare], save, note)
