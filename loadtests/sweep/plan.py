"""Sweep profiles: which cells a sweep measures, and how long it looks at each.

A profile's matrix is a list of blocks, each the product of some server kinds, worker counts
and scenarios. Every profile's repeats are fresh server starts, run in interleaved order across
its cells (A B C A B C), so a shared machine's drift falls on every configuration alike.
``default`` is what ``make bench`` runs in about three minutes on a two-core machine (server
starts included), the cells that carry the headline answers: the sync and the async view under
uvicorn and under gunicorn gthread on one worker (sync against async, and the two server
kinds), the sync view under gthread on two workers (a worker-count comparison), and the two
concurrent fan-out styles (asyncio.gather, a thread pool) on one uvicorn worker; the sequential
baseline (five times slower by construction, and the slowest cell to measure) is in ``full``.
The database paths are compared after the cells, on one server (``sweep.db_compare``), in both.
``full`` is every scenario on every kind and worker count, with more users and longer windows;
the database scenarios also at each of ``FULL_POOL_SIZES`` (``DB_POOL_SIZE``, the pool is a
dimension of theirs). A database path a server kind cannot run (the native path under WSGI) is
not measured: the sweep notes it with the scenario's reason.
``smoke`` is the tests' short look.
The command line can override any field, replace the matrix, or pick cells one by one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from loadtests.analysis import steady
from loadtests.model.experiment import EXTERNAL, Experiment
from loadtests.project.cli import Prepared
from loadtests.scenarios import (
    DB_SCENARIOS,
    LOAD_DELAY_S,
    LOAD_FANOUT,
    SCENARIOS,
    VIEW_SCENARIOS,
    RouteLoad,
    Scenario,
)
from mysite.db.databases import DEFAULT_POOL_SIZE
from mysite.launcher import DEFAULT_THREADS, SERVER_KINDS

# DB_POOL_SIZE per worker: the full profile's pool dimension for the database scenarios (the
# capacity map's too); a profile's database cells run at each of its ``db_pools``.
FULL_POOL_SIZES = (5, DEFAULT_POOL_SIZE)

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
    warmup: float = 0.0  # at least; then until steady (loadtests.analysis.steady)
    window: float = 1.0  # at least; longer for the requests a window should hold
    repeats: int = 3
    # True: every repeat starts a fresh server and Locust (windows_per_run windows each), so
    # the spread includes start-up luck. False: the repeats are windows of one run.
    restart_per_repeat: bool = True
    windows_per_run: int = 2
    time_limit: float = 300.0  # the whole sweep stops (skipping what is left) after this
    db_pools: tuple[int, ...] = (DEFAULT_POOL_SIZE,)  # DB_POOL_SIZE of each database cell

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


ALL = (SERVER_KINDS, (1, 2, 4), tuple(VIEW_SCENARIOS))
ALL_DB = (SERVER_KINDS, (1, 2), tuple(DB_SCENARIOS))

PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            "default",
            "make bench: the headline comparisons, 3 fresh interleaved runs per cell; the three "
            "database paths side by side on one server (paired rounds); then the headline "
            "configurations' capacity",
            # The closed loop answers what users see at a fixed concurrency (sync against async
            # on one worker, the fan-out styles); where each configuration saturates, and the
            # server kinds and worker counts, are the capacity map's, which follows.
            matrix=(
                (("uvicorn",), (1,), ("sync-api", "async-api")),
                (("uvicorn",), (1,), ("async-fanout", "thread-fanout")),
            ),
            # About 20% over the plan's own estimate (101 s): quiet runs took 103-109 s.
            time_limit=120.0,
        ),
        Profile(
            "full",
            "every scenario, server kind and worker count (the database paths at each pool "
            "size); 64 users; 5 fresh runs per cell; then the database paths side by side, "
            "the capacity map with 3 searches each, and the server's life (what an in-flight "
            "request costs, slow clients)",
            matrix=(ALL, ALL_DB),
            users=64,
            db_pools=FULL_POOL_SIZES,
            warmup=1.0,
            window=5.0,
            repeats=5,
            time_limit=4 * 3600.0,
        ),
        Profile(
            "smoke",
            "one short cell, for tests",
            matrix=((("uvicorn",), (1,), ("async-api",)),),
            users=10,
            window=1.0,
            repeats=2,
            time_limit=120.0,
        ),
    )
}


@dataclass(frozen=True)
class ProjectRoute(Scenario):
    """A route of a project of the user's (``make bench APP=``) as a scenario that waits its
    measured service time S once, whatever the delay (a thread holds it under a WSGI kind,
    nothing under ASGI); Locust's route user asks for ``load``, and ``project`` serves it.
    Its ``path`` is its URL pattern, as the project's ``/metrics`` labels its requests."""

    service_s: float = 0.0
    load: RouteLoad | None = None
    project: Prepared | None = field(default=None, compare=False)

    def service_time(self, delay: float, fanout: int) -> float:
        return self.service_s

    def model(self, server, workers, threads, users, delay, fanout, pool, db_pool=0):
        """A view's model, its arithmetic naming S (the lab adds no wait of its own)."""
        shown = float(f"{self.service_s:.3g}")  # the words only: the ceiling is of S itself
        return super().model(server, workers, threads, users, shown, fanout, pool, db_pool)


@dataclass(frozen=True)
class CellPlan(Experiment):
    """An experiment as the sweep runs it: its warm-up, windows per run and time; a project's
    route's cell (``make bench APP=``) carries the ``route``, and its scenario is the route's
    name."""

    route: ProjectRoute | None = None

    @property
    def spec(self) -> Scenario:
        return self.route or SCENARIOS[self.scenario]

    @property
    def slug(self) -> str:
        """A file name: a route's name may be its pattern, slashes and all."""
        return "".join(c if c.isalnum() or c in "-_." else "-" for c in super().slug).strip("-")

    def warmup_for(self) -> float:
        """The least warm-up; the window plugin then waits until the steady rule holds."""
        return self.warmup

    def window_for(self) -> float:
        """Long enough for WINDOW_MIN_REQUESTS a run (its windows together) at the model's rate."""
        model_rps, _ = self.model()
        windows = self.runs()[0]
        return steady.window_s(self.window, model_rps * windows)

    def runs(self) -> list[int]:
        """Windows per Locust run."""
        if self.restart_per_repeat:
            return [self.windows_per_run] * self.repeats
        return [self.repeats]

    def subwindow_for(self) -> float:
        """The steady rule's sub-window for this cell (see ``analysis.steady``)."""
        model_rps, _ = self.model()
        return steady.subwindow_s(self.users, model_rps)

    def run_estimate(self, start_cost: float, windows: int) -> float:
        """Seconds one run should take: start, stagger, the shortest steady warm-up, windows."""
        warm = self.warmup + (steady.STEADY_SUBWINDOWS + 1) * self.subwindow_for()
        return start_cost + 2 * self.service_time + warm + windows * self.window_for()

    def estimate(self, start_cost: float) -> float:
        """Seconds this cell should take, given what one server and Locust start costs."""
        return sum(self.run_estimate(start_cost, n) for n in self.runs())


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


# What the command line may override in a profile, and what a cell takes from it.
OVERRIDES = ("users", "delay", "fanout", "threads", "warmup", "window", "repeats")
OVERRIDES += ("restart_per_repeat", "windows_per_run", "time_limit", "db_pools")
SHARED = tuple(f.name for f in fields(Experiment) if f.name in OVERRIDES)


def from_args(args) -> tuple[Profile, list[CellPlan]]:
    """The profile with the command line's overrides (``cli.Config``), and the cells it
    measures, in order."""
    overrides = {name: getattr(args, name) for name in OVERRIDES}
    overrides["db_pools"] = tuple(args.db_pools) if args.db_pools else None
    profile = (
        PROFILES[args.profile]
        .with_matrix(args.servers, args.workers, args.scenarios)
        .with_overrides(**overrides)
    )
    if args.host:
        triples = [(EXTERNAL, 0, s) for s in dict.fromkeys(c[2] for c in profile.cells())]
    elif args.cell:
        triples = [parse_cell(spec) for spec in args.cell]
    else:
        triples = profile.cells()
    shared = {name: getattr(profile, name) for name in SHARED}
    seen: dict[tuple[str, int, str, int], int] = {}
    plans = []
    for server, workers, scenario in triples:
        pools = profile.db_pools if SCENARIOS[scenario].uses_database else (0,)
        for pool in pools:  # a configuration named twice is measured twice, as two cells
            config = (server, workers, scenario, pool)
            copy = seen[config] = seen.get(config, -1) + 1
            plans.append(
                CellPlan(
                    server,
                    workers,
                    scenario,
                    **shared,
                    copy=copy,
                    db_pool=pool,
                    new_connections=not args.keep_alive,
                )
            )
    return profile, plans


def route_cells(
    profile: Profile, routes: list[tuple[str, ProjectRoute]], keep_alive: bool
) -> list[CellPlan]:
    """A closed-loop cell per project route and server kind (in ``routes``' order) x the
    profile's worker counts, with the profile's users, windows and repeats."""
    workers = sorted({count for _, count, _ in profile.cells()})
    # No delay: a route waits for what its view does, nothing the lab adds (as in the map).
    shared = {name: getattr(profile, name) for name in SHARED} | {"delay": 0.0}
    return [
        CellPlan(kind, count, route.name, **shared, new_connections=not keep_alive, route=route)
        for kind, route in routes
        for count in workers
    ]
