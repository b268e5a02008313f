"""The sweep's PostgreSQL: the lab's own cluster, started (migrated, seeded) on first use, once.

The closed-loop cells, the database comparison and the capacity map all ask for it; it is
started when the first database cell or plan needs it and stopped with the sweep's exit stack,
so nothing is left running on any way out (Ctrl-C included). ``DATABASE_URL`` set: the servers
inherit it, and nothing is started.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mysite.db import cluster as pg


class Postgres:
    """Call it for the servers' database environment (raises ``pg.ClusterError`` when the
    cluster cannot start; the next call tries again)."""

    def __init__(self, stack: contextlib.ExitStack, root: Path | None = None) -> None:
        self.stack, self.root = stack, root
        self.env: dict[str, str] | None = None

    def __call__(self) -> dict[str, str]:
        if os.environ.get("DATABASE_URL"):
            return {}
        if self.env is None:
            with contextlib.ExitStack() as starting:  # a failed prepare stops what it started
                cluster = starting.enter_context(pg.running(self.root))
                pg.prepare(cluster)
                self.stack.push(starting.pop_all())
            self.env = {"DATABASE_URL": cluster.url()}
        return self.env
