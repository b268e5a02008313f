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

from dataclasses import asdict, dataclass, replace

from mysite.launcher import DEFAULT_THREADS, SERVER_KINDS

from .scenarios import DEFAULT_DELAY, DEFAULT_FANOUT, SCENARIOS

Block = tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    matrix: tuple[Block, ...]
    users: int = 32
    delay: float = DEFAULT_DELAY
    fanout: int = DEFAULT_FANOUT
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
