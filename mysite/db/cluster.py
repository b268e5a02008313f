"""The lab's own throwaway PostgreSQL: initialised, started, checked and stopped in one place.

Debian's ``postgresql`` package provides the server (``make`` installs it with the other system
packages). PostgreSQL refuses to run as root, so under root the cluster belongs to the
``postgres`` system user the package creates; otherwise to whoever runs this. It listens on a
Unix socket only (no TCP port, so clusters of several checkouts never collide) and is tuned for
a read benchmark: ``fsync``, ``synchronous_commit`` and ``full_page_writes`` are off, which loses
data only on a machine crash, and the data is re-created by migrations and the seed command.

Command line (``make run`` uses it)::

    python -m mysite.db.cluster start    # init if needed, start, migrate, seed
    python -m mysite.db.cluster status
    python -m mysite.db.cluster stop

From Python, ``running(root)`` starts a cluster for a block and stops it afterwards.
This module imports no Django, so the settings can take the lab's address from it.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = REPO / "var" / "postgres"
DBNAME = "lab"
USER = "lab"
# Names the socket file (.s.PGSQL.<port>); nothing listens on TCP.
PORT = 5432
# Every worker's pools at once: 8 workers x DB_POOL_SIZE 10 x 3 paths = 240, plus a margin for
# tests, psql and the system check. The check in mysite/db/checks.py compares against the
# server's real value, so a smaller server (DATABASE_URL) is caught at start-up.
MAX_CONNECTIONS = 300
READY_TIMEOUT = 30.0
# Settings for a throwaway benchmark database, passed at every start (never baked in at init).
SERVER_SETTINGS = {
    "listen_addresses": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": str(MAX_CONNECTIONS),
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
}
SERVICE_USER = "postgres"


class ClusterError(RuntimeError):
    """PostgreSQL could not be set up or started; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Cluster:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def socket(self) -> Path:
        return self.socket_dir / f".s.PGSQL.{PORT}"

    def conninfo(self, dbname: str = DBNAME) -> dict[str, str]:
        return {"host": str(self.socket_dir), "port": str(PORT), "dbname": dbname, "user": USER}

    def url(self) -> str:
        """The ``DATABASE_URL`` that points at this cluster (a Unix socket, no password)."""
        return f"postgresql://{USER}@/{DBNAME}?host={quote(str(self.socket_dir), safe='')}"


def lab_cluster() -> Cluster:
    return Cluster(DEFAULT_ROOT)


# --- the server binaries and their user -------------------------------------------------------


def bindir() -> Path:
    """Debian keeps the server programs off PATH, under /usr/lib/postgresql/<version>/bin."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    raise ClusterError(
        "PostgreSQL's server is not installed: run `make system-packages` "
        "(Debian: apt-get install postgresql)."
    )


@dataclass(frozen=True, slots=True)
class Owner:
    uid: int
    gid: int
    name: str

    @property
    def is_me(self) -> bool:
        return self.uid == os.geteuid()


def owner() -> Owner:
    """Who runs the server: ``postgres`` when we are root (PostgreSQL refuses root), else us."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
    else:
        try:
            entry = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise ClusterError(
                f"No {SERVICE_USER!r} system user: install Debian's postgresql package "
                "(`make system-packages`), which creates it."
            ) from None
    return Owner(entry.pw_uid, entry.pw_gid, entry.pw_name)


def _run(cluster_owner: Owner, argv: list[str], timeout: float, check: bool = True):
    as_user = {} if cluster_owner.is_me else {"user": cluster_owner.uid, "group": cluster_owner.gid}
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, cwd="/",
        env={**os.environ, "LC_ALL": "C.UTF-8"}, **as_user,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise ClusterError(
            f"{Path(argv[0]).name} failed ({result.returncode}): "
            f"{(result.stderr or result.stdout).strip()}"
        )
    return result


def _owned_dir(path: Path, cluster_owner: Owner, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, cluster_owner.uid, cluster_owner.gid)
    path.chmod(mode)


# --- life cycle --------------------------------------------------------------------------------


def init(cluster: Cluster) -> bool:
    """Create the data directory when there is none; True when it did."""
    cluster_owner = owner()
    # The root must be reachable by the server's user; its parents are root's (0755).
    _owned_dir(cluster.root, cluster_owner, 0o755)
    _owned_dir(cluster.socket_dir, cluster_owner, 0o755)
    if (cluster.data / "PG_VERSION").exists():
        return False
    _owned_dir(cluster.data, cluster_owner, 0o700)
    _run(
        cluster_owner,
        [str(bindir() / "initdb"), "-D", str(cluster.data), "-U", USER, "--auth=trust",
         "-E", "UTF8", "--locale=C", "--no-sync"],
        timeout=120,
    )  # fmt: skip
    return True


def is_running(cluster: Cluster) -> bool:
    if not (cluster.data / "PG_VERSION").exists():
        return False
    result = _run(
        owner(), [str(bindir() / "pg_ctl"), "status", "-D", str(cluster.data)], 30, check=False
    )
    return result.returncode == 0


def start(
    cluster: Cluster, timeout: float = READY_TIMEOUT, settings: dict[str, str] | None = None
) -> bool:
    """Start the cluster (initialising it first when needed) and wait until it accepts
    connections; create the lab's database. False when it was already running (then
    ``settings``, overrides of ``SERVER_SETTINGS``, are not applied)."""
    init(cluster)
    if is_running(cluster):
        wait_ready(cluster, timeout)
        return False
    chosen = SERVER_SETTINGS | (settings or {})
    options = " ".join(f"-c {name}='{value}'" for name, value in chosen.items())
    options += f" -c unix_socket_directories='{cluster.socket_dir}' -c port={PORT}"
    cluster_owner = owner()
    if not cluster.log.exists():
        cluster.log.touch()
        os.chown(cluster.log, cluster_owner.uid, cluster_owner.gid)
    _run(
        cluster_owner,
        [str(bindir() / "pg_ctl"), "start", "-D", str(cluster.data), "-l", str(cluster.log),
         "-w", "-t", str(int(timeout)), "-o", options],
        timeout=timeout + 10,
    )  # fmt: skip
    wait_ready(cluster, timeout)
    _create_database(cluster)
    return True


def stop(cluster: Cluster, timeout: float = 30.0) -> bool:
    """Stop the cluster (fast shutdown: open sessions are ended). False when it was not running."""
    if not is_running(cluster):
        return False
    pg_ctl = str(bindir() / "pg_ctl")
    result = _run(
        owner(), [pg_ctl, "stop", "-D", str(cluster.data), "-m", "fast", "-w",
                  "-t", str(int(timeout))], timeout + 10, check=False,
    )  # fmt: skip
    if result.returncode != 0 and is_running(cluster):
        _run(owner(), [pg_ctl, "stop", "-D", str(cluster.data), "-m", "immediate", "-w"], 30)
    return True


def wait_ready(cluster: Cluster, timeout: float = READY_TIMEOUT) -> None:
    """Connect until the server answers a query, or fail after ``timeout`` seconds."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(**cluster.conninfo("postgres"), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as error:
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"PostgreSQL at {cluster.socket_dir} was not ready within {timeout:g} s: "
                    f"{error}\n{_log_tail(cluster)}"
                ) from error
        time.sleep(0.1)


def _create_database(cluster: Cluster) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(**cluster.conninfo("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DBNAME]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DBNAME)))


def _log_tail(cluster: Cluster, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(cluster.log.read_text(errors="replace").splitlines()[-lines:])
    return ""


@contextlib.contextmanager
def running(root: Path | None = None, settings: dict[str, str] | None = None) -> Iterator[Cluster]:
    """A cluster for the block's duration; stopped afterwards if this block started it."""
    cluster = Cluster(root) if root is not None else lab_cluster()
    started = start(cluster, settings=settings)
    try:
        yield cluster
    finally:
        if started:
            stop(cluster)


# --- schema and seed ----------------------------------------------------------------------------


def prepare(cluster: Cluster) -> None:
    """Apply the migrations and seed the table (both idempotent), as the app will see them."""
    env = {**os.environ, "DATABASE_URL": cluster.url()}
    env.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    # Management commands load the settings, which want a key unless DEBUG; none is used here.
    env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    for command in (["migrate", "--no-input", "-v", "0"], ["seed_items"]):
        result = subprocess.run(
            [sys.executable, "-m", "django", *command], env=env, cwd=REPO,
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        if result.returncode != 0:
            raise ClusterError(f"{command[0]} failed:\n{result.stderr.strip()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mysite.db.cluster", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "action",
        choices=("start", "stop", "status"),
        help="start (migrated, seeded), stop, or status",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=DEFAULT_ROOT,
        help="where the cluster lives (default: %(default)s)",
    )
    parser.add_argument(
        "--no-prepare", action="store_true", help="start without migrating and seeding"
    )
    args = parser.parse_args(argv)
    cluster = Cluster(args.root.resolve())
    try:
        if args.action == "start":
            started = start(cluster)
            if not args.no_prepare:
                prepare(cluster)
            state = "started" if started else "already running"
            print(f"PostgreSQL {state} at {cluster.socket_dir} (DATABASE_URL={cluster.url()})")
        elif args.action == "stop":
            print("PostgreSQL stopped." if stop(cluster) else "PostgreSQL was not running.")
        else:
            up = is_running(cluster)
            print(f"PostgreSQL is {'running' if up else 'stopped'} ({cluster.root})")
            sys.exit(0 if up else 3)
    except ClusterError as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()
