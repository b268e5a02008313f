"""Sweep profiles: which cells a sweep measures, and how long it looks at each.

A profile's matrix is a list of blocks, each the product of some server kinds, worker counts
and scenarios. ``default`` is what ``make bench`` runs within five minutes on a two-core machine
(server starts included): sync and async views under uvicorn and gunicorn gthread at 1, 2 and 4
workers (and the async view under gunicorn with uvicorn workers), the fan-outs against their
sequential baseline on one worker, and the blocking anti-pattern across uvicorn's worker counts.
``full`` is every scenario on every kind and worker count, with more users, longer windows and
a fresh server for every repeat. ``smoke`` is the tests' short look.
The command line can override any field, replace the matrix, or pick cells one by one.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, replace

from loadtests.scenarios import LOAD_DELAY_S, LOAD_FANOUT, SCENARIOS, Scenario
from mysite.demo.params import MAX_FANOUT
from mysite.launcher import DEFAULT_THREADS, SERVER_KINDS

# Connections (and sync fan-out threads) per worker that the sweep gives each server: the app's
# own default, the largest fan-out, so one request's calls never queue behind each other.
UPSTREAM_POOL_SIZE = MAX_FANOUT
EXTERNAL = "external"  # the server kind of cells measured on --host

Block = tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    matrix: tuple[Block, ...]
    users: int = 32
    delay: float = LOAD_DELAY_S
    fanout: int = LOAD_FANOUT
    threads: int = DEFAULT_THREADS
    warmup: float = 1.0  # at least; longer when requests queue (see CellPlan.warmup_for)
    window: float = 2.0
    repeats: int = 2
    # False: the repeats are back-to-back windows of one run, after one warm-up.
    # True: every repeat starts a fresh server and Locust, so the spread includes start-up luck.
    restart_per_repeat: bool = False
    time_limit: float = 300.0  # the whole sweep stops (skipping what is left) after this

    def cells(self) -> list[tuple[str, int, str]]:
        """(server, workers, scenario) in the order they run: block by block, as listed.

        The most telling blocks come first, so a sweep cut short by its time limit or a
        Ctrl-C has measured them.
        """
        seen: dict[tuple[str, int, str], None] = {}
        for servers, workers, scenarios in self.matrix:
            for scenario in scenarios:
                for server in servers:
                    for count in workers:
                        seen[(server, count, scenario)] = None
        return list(seen)

    def with_matrix(self, servers=None, workers=None, scenarios=None) -> Profile:
        """One block from what the command line names, the profile's own values for the rest."""
        if not (servers or workers or scenarios):
            return self
        cells = self.cells()
        block = (
            tuple(servers or dict.fromkeys(c[0] for c in cells)),
            tuple(workers or sorted({c[1] for c in cells})),
            tuple(scenarios or dict.fromkeys(c[2] for c in cells)),
        )
        return replace(self, matrix=(block,))

    def with_overrides(self, **overrides) -> Profile:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def as_dict(self) -> dict:
        return asdict(self)


ALL = (SERVER_KINDS, (1, 2, 4), tuple(SCENARIOS))

PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            "default",
            "make bench: about 5 minutes on 2 cores; two 2 s windows per cell",
            matrix=(
                (("uvicorn", "gunicorn-gthread"), (1, 2, 4), ("sync-api", "async-api")),
                (("gunicorn-uvicorn",), (1, 2, 4), ("async-api",)),
                (
                    ("uvicorn", "gunicorn-gthread"),
                    (1,),
                    ("async-fanout", "thread-fanout", "sequential"),
                ),
                (("uvicorn",), (1, 2, 4), ("async-blocking",)),
                (("uvicorn",), (1,), ("async-fanout-httpx",)),
            ),
            time_limit=280.0,
        ),
        Profile(
            "full",
            "every scenario, server kind and worker count; 64 users; 3 fresh 10 s runs per cell",
            matrix=(ALL,),
            users=64,
            warmup=3.0,
            window=10.0,
            repeats=3,
            restart_per_repeat=True,
            time_limit=4 * 3600.0,
        ),
        Profile(
            "smoke",
            "one short cell, for tests",
            matrix=((("uvicorn",), (1,), ("async-api",)),),
            users=10,
            warmup=1.0,
            window=2.0,
            repeats=1,
            time_limit=120.0,
        ),
    )
}


@dataclass(frozen=True)
class CellPlan:
    server: str
    workers: int
    scenario: str
    users: int
    delay: float
    fanout: int
    threads: int
    warmup: float
    window: float
    repeats: int
    restart_per_repeat: bool = False
    new_connections: bool = True

    @property
    def key(self) -> str:
        return f"{self.server}/{self.workers}/{self.scenario}"

    @property
    def slug(self) -> str:
        return f"{self.server}-{self.workers}w-{self.scenario}"

    @property
    def spec(self) -> Scenario:
        return SCENARIOS[self.scenario]

    def model(self) -> tuple[float, str]:
        if self.server == EXTERNAL:
            rps = self.spec.littles_law_rps(self.users, self.delay, self.fanout)
            return rps, "Little's law only: the server is not the sweep's"
        return self.spec.model(
            self.server,
            self.workers,
            self.threads,
            self.users,
            self.delay,
            self.fanout,
            UPSTREAM_POOL_SIZE,
        )

    def warmup_for(self) -> float:
        """Warm up at least one expected latency, so queues are full before measuring."""
        model_rps, _ = self.model()
        expected_latency = self.users / model_rps
        longest = max(4 * self.warmup, 6.0)
        return round(min(max(self.warmup, expected_latency + 1.0), longest, 15.0), 2)

    def runs(self) -> list[int]:
        """Windows per Locust run."""
        return [1] * self.repeats if self.restart_per_repeat else [self.repeats]

    def estimate(self, start_cost: float) -> float:
        """Seconds this cell should take, given what one server and Locust start costs."""
        return sum(start_cost + self.warmup_for() + n * self.window for n in self.runs())


def parse_cell(spec: str) -> tuple[str, int, str]:
    parts = spec.split(":")
    if len(parts) != 3 or parts[0] not in SERVER_KINDS or parts[2] not in SCENARIOS:
        raise ValueError(
            f"--cell {spec!r}: expected SERVER:WORKERS:SCENARIO with SERVER in "
            f"{', '.join(SERVER_KINDS)} and SCENARIO in {', '.join(SCENARIOS)}"
        )
    try:
        workers = int(parts[1])
    except ValueError:
        raise ValueError(f"--cell {spec!r}: WORKERS must be a whole number") from None
    return parts[0], workers, parts[2]


def from_args(args: argparse.Namespace) -> tuple[Profile, list[CellPlan]]:
    """The profile with the command line's overrides, and the cells it measures, in order."""
    profile = (
        PROFILES[args.profile]
        .with_matrix(args.servers, args.workers, args.scenarios)
        .with_overrides(
            users=args.users,
            delay=args.delay,
            fanout=args.fanout,
            threads=args.threads,
            warmup=args.warmup,
            window=args.window,
            repeats=args.repeats,
            restart_per_repeat=args.restart_per_repeat,
            time_limit=args.time_limit,
        )
    )
    if args.host:
        triples = [(EXTERNAL, 0, s) for s in dict.fromkeys(c[2] for c in profile.cells())]
    elif args.cell:
        triples = [parse_cell(spec) for spec in args.cell]
    else:
        triples = profile.cells()
    shared = {
        "users": profile.users,
        "delay": profile.delay,
        "fanout": profile.fanout,
        "threads": profile.threads,
        "warmup": profile.warmup,
        "window": profile.window,
        "repeats": profile.repeats,
        "restart_per_repeat": profile.restart_per_repeat,
        "new_connections": not args.keep_alive,
    }
    plans = [
        CellPlan(server=server, workers=workers, scenario=scenario, **shared)
        for server, workers, scenario in triples
    ]
    return profile, plans
