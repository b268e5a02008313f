"""The lab's own throwaway PostgreSQL: initialised, started, checked and stopped in one place.

Debian's ``postgresql`` package provides the server (``make`` installs it with the other system
packages). PostgreSQL refuses to run as root, so under root the cluster belongs to the
``postgres`` system user the package creates; otherwise to whoever runs this. It listens on a
Unix socket only (no TCP port, so clusters of several checkouts never collide) and is tuned for
a read benchmark: ``fsync``, ``synchronous_commit`` and ``full_page_writes`` are off, which loses
data only on a machine crash, and the data is re-created by migrations and the seed command.

It is its user's alone. The root, the socket directory and the data are ``0700``, the socket,
the log and the password files ``0600``; every login is SCRAM with a generated password (never
``trust``). ``lab_admin``, the superuser ``initdb`` creates, only provisions; the app's role
``lab`` owns its database and nothing more (no superuser, so no ``COPY ... PROGRAM``). Its
password sits in a pgpass file that ``DATABASE_URL`` names (``passfile=``), so no URL, command
line or log holds a secret. No path is ever re-parsed by a shell: settings go in a file in the
data directory, and ``pg_ctl start`` gets the data directory from ``PGDATA``, not ``-D``, which
it would paste into a ``/bin/sh -c`` command line between double quotes.

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
# The application's role: owns DBNAME, nothing more.
USER = "lab"
# initdb's bootstrap superuser: creates the role and the database, and nothing connects as it
# but this module.
ADMIN_USER = "lab_admin"
AUTH_METHOD = "scram-sha-256"
# Names the socket file (.s.PGSQL.<port>); nothing listens on TCP.
PORT = 5432
# Every worker's pools at once: 8 workers x DB_POOL_SIZE 10 x 3 paths = 240, plus a margin for
# tests, psql and the system check. The check in mysite/db/checks.py compares against the
# server's real value, so a smaller server (DATABASE_URL) is caught at start-up.
MAX_CONNECTIONS = 300
READY_TIMEOUT = 30.0
# Settings for a throwaway benchmark database, written at every start (never baked in at init).
SERVER_SETTINGS = {
    "listen_addresses": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": str(MAX_CONNECTIONS),
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
}
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# Written at every start and read by postgresql.conf's include; lab's settings win over initdb's.
CONFIG_NAME = "lab.conf"
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

    @property
    def passfile(self) -> Path:
        """The app role's password, in libpq's pgpass format (``DATABASE_URL`` names it)."""
        return self.root / "lab.pgpass"

    @property
    def admin_password_file(self) -> Path:
        """The bootstrap superuser's password, alone on its line (initdb's ``--pwfile``)."""
        return self.root / "admin.password"

    def conninfo(self, dbname: str = DBNAME) -> dict[str, str]:
        return {
            "host": str(self.socket_dir),
            "port": str(PORT),
            "dbname": dbname,
            "user": USER,
            "passfile": str(self.passfile),
        }

    def admin_conninfo(self, dbname: str = "postgres") -> dict[str, str]:
        password = self.admin_password_file.read_text().strip()
        return {**self.conninfo(dbname), "user": ADMIN_USER, "password": password}

    def url(self) -> str:
        """The ``DATABASE_URL`` that points at this cluster: its socket and the app role's
        password file (the URL holds no secret)."""
        return (
            f"postgresql://{USER}@/{DBNAME}?host={quote(str(self.socket_dir), safe='')}"
            f"&passfile={quote(str(self.passfile), safe='')}"
        )


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


def _run(
    cluster_owner: Owner,
    argv: list[str],
    timeout: float,
    check: bool = True,
    env: dict[str, str] | None = None,
    output: int | None = None,
) -> subprocess.CompletedProcess:
    """Run a server program as the cluster's owner, from an argument list (never a shell);
    ``output``: a file descriptor for its stdout and stderr instead of capturing them."""
    as_user = (
        {}
        if cluster_owner.is_me
        else {"user": cluster_owner.uid, "group": cluster_owner.gid, "extra_groups": []}
    )
    streams = {"capture_output": True} if output is None else {"stdout": output, "stderr": output}
    result = subprocess.run(
        argv,
        text=True,
        timeout=timeout,
        check=False,
        cwd="/",
        env={**os.environ, "LC_ALL": "C.UTF-8", **(env or {})},
        **streams,
        **as_user,
    )
    if check and result.returncode != 0:
        raise ClusterError(
            f"{Path(argv[0]).name} failed ({result.returncode}): "
            f"{(result.stderr or result.stdout or '').strip()}"
        )
    return result


def _owned_dir(path: Path, cluster_owner: Owner) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, cluster_owner.uid, cluster_owner.gid)
    path.chmod(PRIVATE_DIR)


def _private_fd(path: Path, cluster_owner: Owner, flags: int) -> int:
    """Open (creating) a file of the owner's, readable by nobody else, not through a link."""
    fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        os.fchown(fd, cluster_owner.uid, cluster_owner.gid)
        os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_private(path: Path, cluster_owner: Owner, text: str) -> None:
    fd = _private_fd(path, cluster_owner, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def conf_string(value: str) -> str:
    """A postgresql.conf string literal: backslashes and single quotes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _check_root(cluster: Cluster) -> None:
    """Paths the server and libpq can take as they are (quotes, ``$`` and spaces are fine)."""
    text = str(cluster.socket_dir)
    if "," in text:
        raise ClusterError(
            f"The cluster's root {cluster.root} has a comma, which libpq reads as a list of "
            "hosts: choose a root without one (--root)."
        )
    if any(ord(char) < 32 for char in text):
        raise ClusterError(f"The cluster's root {cluster.root!r} has a control character.")
    if len(os.fsencode(cluster.socket)) > 107:
        raise ClusterError(
            f"The socket path {cluster.socket} is longer than a Unix socket allows (107 bytes): "
            "choose a shorter root (--root)."
        )


# --- life cycle --------------------------------------------------------------------------------


def _check_reachable(cluster: Cluster, cluster_owner: Owner) -> None:
    """The owner can pass through every folder above the root: under root the server runs as
    ``postgres``, which a checkout under ``/root`` or a ``mktemp -d`` folder (both ``0700``)
    keeps out, and initdb would then fail on a file it cannot open. Asked of the system as the
    owner (``test -x``), so ACLs count."""

    def passes(folder: Path) -> bool:
        return _run(cluster_owner, ["test", "-x", str(folder)], 10, check=False).returncode == 0

    if cluster_owner.is_me or passes(cluster.root):
        return
    blocked = next((f for f in reversed(cluster.root.parents) if not passes(f)), cluster.root)
    raise ClusterError(
        f"PostgreSQL runs as {cluster_owner.name!r}, which cannot enter {blocked} (mode "
        f"{blocked.stat().st_mode & 0o777:04o}), above the cluster's root {cluster.root}: let it "
        f"pass (chmod o+x {blocked}), or put the checkout (or the cluster's --root) where it can."
    )


def init(cluster: Cluster) -> bool:
    """Create the private folders and passwords, and the data directory when there is none;
    True when it did."""
    _check_root(cluster)
    cluster_owner = owner()
    for folder in (cluster.root, cluster.socket_dir):
        _owned_dir(folder, cluster_owner)
    _check_reachable(cluster, cluster_owner)
    initialised = (cluster.data / "PG_VERSION").exists()
    if initialised and not cluster.admin_password_file.exists():
        raise ClusterError(
            f"{cluster.data} was made by an older lab (trust authentication, no passwords). "
            f"It holds only the seeded table: stop it (python -m mysite.db.cluster stop "
            f"--root {cluster.root}), remove {cluster.data}, and start again."
        )
    if not cluster.admin_password_file.exists():
        _write_private(cluster.admin_password_file, cluster_owner, secrets.token_urlsafe(32) + "\n")
    if not cluster.passfile.exists():
        # host:port:database:user:password; token_urlsafe has no ':' or backslash to escape.
        line = f"*:*:*:{USER}:{secrets.token_urlsafe(32)}\n"
        _write_private(cluster.passfile, cluster_owner, line)
    if initialised:
        return False
    _owned_dir(cluster.data, cluster_owner)
    _run(
        cluster_owner,
        [
            str(bindir() / "initdb"),
            "-D",
            str(cluster.data),
            "-U",
            ADMIN_USER,
            f"--pwfile={cluster.admin_password_file}",
            f"--auth={AUTH_METHOD}",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        timeout=120,
    )
    with (cluster.data / "postgresql.conf").open("a") as conf:
        conf.write("\n# The lab's settings (mysite/db/cluster.py writes them at every start).\n")
        conf.write(f"include = {conf_string(CONFIG_NAME)}\n")
    return True


def _lab_password(cluster: Cluster) -> str:
    return cluster.passfile.read_text().strip().rpartition(":")[2]


def _write_server_config(cluster: Cluster, settings: dict[str, str]) -> None:
    """The settings and the access rules, as files: nothing a shell or a command line parses."""
    cluster_owner = owner()
    socket_dir = '"' + str(cluster.socket_dir).replace('"', '""') + '"'  # a one-entry list
    chosen = settings | {
        "port": str(PORT),
        "unix_socket_directories": socket_dir,
        "unix_socket_permissions": f"0{PRIVATE_DIR:o}",  # octal
        "password_encryption": AUTH_METHOD,
    }
    lines = [f"{name} = {conf_string(value)}" for name, value in chosen.items()]
    _write_private(cluster.data / CONFIG_NAME, cluster_owner, "\n".join(lines) + "\n")
    # Only the socket (no host lines), only SCRAM; the app's role only to its database.
    hba = (
        "# Written by mysite/db/cluster.py at every start.\n"
        f"local  {DBNAME}  {USER}  {AUTH_METHOD}\n"
        f"local  all  {ADMIN_USER}  {AUTH_METHOD}\n"
    )
    _write_private(cluster.data / "pg_hba.conf", cluster_owner, hba)


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
    connections; create the app's role and database. False when it was already running (then
    ``settings``, overrides of ``SERVER_SETTINGS``, are not applied)."""
    init(cluster)
    if is_running(cluster):
        wait_ready(cluster, timeout)
        return False
    _write_server_config(cluster, SERVER_SETTINGS | (settings or {}))
    cluster_owner = owner()
    # pg_ctl runs the server through /bin/sh with -D's value between double quotes, where
    # $(...) still runs: the data directory goes in PGDATA, and the output to our own log.
    log = _private_fd(cluster.log, cluster_owner, os.O_WRONLY | os.O_APPEND)
    try:
        result = _run(
            cluster_owner,
            [str(bindir() / "pg_ctl"), "start", "-w", "-t", str(int(timeout))],
            timeout=timeout + 10,
            check=False,
            env={"PGDATA": str(cluster.data)},
            output=log,
        )
    finally:
        os.close(log)
    if result.returncode != 0:
        raise ClusterError(f"pg_ctl start failed ({result.returncode}):\n{_log_tail(cluster)}")
    wait_ready(cluster, timeout)
    _provision(cluster)
    return True


def stop(cluster: Cluster, timeout: float = 30.0) -> bool:
    """Stop the cluster (fast shutdown: open sessions are ended). False when it was not running."""
    if not is_running(cluster):
        return False
    pg_ctl = str(bindir() / "pg_ctl")
    result = _run(
        owner(),
        [pg_ctl, "stop", "-D", str(cluster.data), "-m", "fast", "-w", "-t", str(int(timeout))],
        timeout + 10,
        check=False,
    )
    if result.returncode != 0 and is_running(cluster):
        _run(owner(), [pg_ctl, "stop", "-D", str(cluster.data), "-m", "immediate", "-w"], 30)
    return True


def wait_ready(cluster: Cluster, timeout: float = READY_TIMEOUT) -> None:
    """Connect until the server answers a query, or fail after ``timeout`` seconds."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(**cluster.admin_conninfo(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as error:
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"PostgreSQL at {cluster.socket_dir} was not ready within {timeout:g} s: "
                    f"{error}\n{_log_tail(cluster)}"
                ) from error
        time.sleep(0.1)


def _provision(cluster: Cluster) -> None:
    """The app's role (no superuser, no role or database creation) with the password of its
    pgpass file, and its database, owned by it. Idempotent."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(**cluster.admin_conninfo(), autocommit=True) as conn:
        # The server is sent SCRAM's verifier, never the password itself.
        verifier = conn.pgconn.encrypt_password(
            _lab_password(cluster).encode(), USER.encode(), AUTH_METHOD.encode()
        ).decode()
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [USER]).fetchone()
        conn.execute(
            sql.SQL(
                "{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
                " PASSWORD {}"
            ).format(
                sql.SQL("ALTER" if exists else "CREATE"),
                sql.Identifier(USER),
                sql.Literal(verifier),
            )
        )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DBNAME]).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(DBNAME), sql.Identifier(USER)
                )
            )


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
            [sys.executable, "-m", "django", *command],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
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
