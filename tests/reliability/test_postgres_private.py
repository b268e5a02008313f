"""The lab's PostgreSQL is its user's alone: another local user reaches neither its socket, nor
its data, nor its log; every login needs the generated password; the app's role is no superuser
and runs no program; a root path full of shell syntax starts the cluster and runs nothing.

One cluster serves the module (a start costs seconds). Its root is named like an injection:
``q'$(touch "$LAB_PWNED")'\\z``, with ``LAB_PWNED`` naming a marker file. The old cluster.py ran
that name through ``/bin/sh`` twice (pg_ctl's ``-D "..."`` and its own ``-o "-c x='...'"``);
a control below shows both quotings do run it, so the marker's absence means something.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from mysite.db import cluster as pg

pytestmark = pytest.mark.live

PAYLOAD_NAME = "q'$(touch \"$LAB_PWNED\")'\\z"
SECOND_USER = ("nobody", "nogroup")
# The first line that says why a command failed: what the figures record.
DENIALS = ("Permission denied", "no password supplied", "password authentication failed")


@dataclass(frozen=True, slots=True)
class Private:
    cluster: pg.Cluster
    base: Path  # the payload's parent, the owner's: where its marker would land
    marker: Path
    marker_after_start: bool


@pytest.fixture(scope="module")
def private() -> Iterator[Private]:
    base = Path(tempfile.mkdtemp(prefix="labpg-"))  # short: a socket path fits 107 bytes
    owner = pg.owner()
    os.chown(base, owner.uid, owner.gid)  # the server's user reaches the root, and the marker
    marker = base / "PWNED"
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("LAB_PWNED", str(marker))
            with pg.running(base / PAYLOAD_NAME) as cluster:
                yield Private(cluster, base, marker, marker.exists())
    finally:
        shutil.rmtree(base, ignore_errors=True)


def as_owner(argv: list[str]) -> subprocess.CompletedProcess:
    owner = pg.owner()
    as_user = {} if owner.is_me else {"user": owner.uid, "group": owner.gid, "extra_groups": []}
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=30, check=False, cwd="/", **as_user
    )


def as_second_user(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    user, group = SECOND_USER
    return subprocess.run(
        ["setpriv", f"--reuid={user}", f"--regid={group}", "--clear-groups", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd="/",
        env={"PATH": os.environ["PATH"], "HOME": "/nonexistent", "LC_ALL": "C.UTF-8", **env},
    )


def psql(cluster: pg.Cluster, user: str) -> list[str]:
    """psql to the cluster's socket, never prompting (-w), reading no rc file (-X)."""
    target = ["-h", str(cluster.socket_dir), "-p", str(pg.PORT), "-U", user, "-d", pg.DBNAME]
    return [str(pg.bindir() / "psql"), "-X", "-w", *target, "-c", "SELECT current_user"]


def denial(result: subprocess.CompletedProcess) -> str:
    """Why it failed, in the words of the tool (its name, and the line's last clause: the
    paths are long)."""
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if any(d in line for d in DENIALS)]
    assert lines, result.stderr
    tool = Path(result.args[result.args.index("--clear-groups") + 1]).name
    return f"{tool}: {lines[0].rsplit(': ', 1)[-1].strip()}"


@contextlib.contextmanager
def opened(paths: dict[Path, int]) -> Iterator[None]:
    """Modes loosened for a moment, to try the next layer; put back whatever happens."""
    before = {path: stat.S_IMODE(path.stat().st_mode) for path in paths}
    try:
        for path, mode in paths.items():
            path.chmod(mode)
        yield
    finally:
        for path, mode in before.items():
            path.chmod(mode)


def test_a_root_with_quotes_and_command_substitution_starts_and_runs_nothing(private, figure):
    cluster = private.cluster
    assert not private.marker_after_start, "the start ran the command in the root's name"
    assert pg.is_running(cluster)
    with psycopg.connect(cluster.url()) as conn:  # the URL with the name percent-encoded
        assert conn.execute("SELECT current_user").fetchone() == (pg.USER,)
    assert cluster.socket.exists()
    figure("root", str(cluster.root))
    figure("marker after initdb, start, connect", private.marker.exists(), "absent")
    # Control: the same name in either shell quoting the old cluster.py used runs the command.
    for quoting in (f'exec true -D "{cluster.data}"', f"exec true -c x='{cluster.socket_dir}'"):
        assert not private.marker.exists()
        as_owner(["/bin/sh", "-c", quoting])
        ran = private.marker.exists()
        figure(f"control: marker after sh -c {quoting.split()[2][:4]}...", ran, "present")
        assert ran, quoting
        private.marker.unlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can act as another user (setpriv)")
def test_another_user_reaches_neither_the_socket_nor_the_data_nor_the_log(private, figure):
    cluster = private.cluster
    owner = pg.owner()
    private_dirs = (cluster.root, cluster.socket_dir, cluster.data, cluster.socket)
    private_files = (cluster.log, cluster.passfile, cluster.admin_password_file)
    modes = dict.fromkeys(private_dirs, 0o700) | dict.fromkeys(private_files, 0o600)
    for path, mode in modes.items():
        info = path.lstat()
        assert (stat.S_IMODE(info.st_mode), info.st_uid) == (mode, owner.uid), path
    figure("modes", "root, run/, data/, socket 0700; log, lab.pgpass, admin.password 0600")
    reads = {
        "socket as lab": psql(cluster, pg.USER),
        "socket as lab_admin": psql(cluster, pg.ADMIN_USER),
        "data/": ["ls", str(cluster.data)],
        "data/PG_VERSION": ["cat", str(cluster.data / "PG_VERSION")],
        "postgres.log": ["cat", str(cluster.log)],
        "lab.pgpass": ["cat", str(cluster.passfile)],
    }
    for what, argv in reads.items():
        got = denial(as_second_user(argv))
        assert "Permission denied" in got, (what, got)
        figure(f"nobody: {what}", got, "Permission denied")

    # The next layers, each alone: with the folders open to all, the socket's own mode still
    # refuses, and so do the data directory's and the files'.
    folders = {private.base: 0o711, cluster.root: 0o711, cluster.socket_dir: 0o711}
    with opened(folders):
        for what, argv in reads.items():
            got = denial(as_second_user(argv))
            assert "Permission denied" in got, (what, got)
            figure(f"nobody, folders opened: {what}", got, "Permission denied")
        # And with the socket open too, the server asks for the password nobody has.
        with opened({cluster.socket: 0o777}):
            for user in (pg.USER, pg.ADMIN_USER):
                got = denial(as_second_user(psql(cluster, user)))
                assert "no password supplied" in got, (user, got)
                figure(f"nobody, socket opened: psql -U {user}", got, "no password supplied")
                guessed = as_second_user(psql(cluster, user), PGPASSWORD="lab")
                got = denial(guessed)
                assert "password authentication failed" in got, (user, got)
                figure(f"nobody, socket opened: psql -U {user}, guessed password", got, "failed")
    assert {path: stat.S_IMODE(path.lstat().st_mode) for path in modes} == modes


def test_every_login_needs_the_generated_password(private, figure):
    """Even the lab's own user, who reaches the socket, gets nothing without the password."""
    cluster = private.cluster
    without = {**cluster.conninfo(), "passfile": "/nonexistent"}
    for user in (pg.USER, pg.ADMIN_USER):
        with pytest.raises(psycopg.OperationalError, match="no password supplied") as refused:
            psycopg.connect(**(without | {"user": user}), connect_timeout=5).close()
        figure(f"{user} without a password", str(refused.value).splitlines()[-1].strip())
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(**(without | {"user": user, "password": "lab"})).close()
    # The app's role only reaches its own database.
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
        psycopg.connect(**cluster.conninfo("postgres")).close()
    with psycopg.connect(**cluster.conninfo()) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (pg.USER,)
    hba = (cluster.data / "pg_hba.conf").read_text()
    assert "trust" not in hba
    figure("pg_hba.conf rules", [line for line in hba.splitlines() if line.startswith("local")])


def test_the_app_role_owns_its_database_and_nothing_more(private, figure):
    cluster = private.cluster
    with psycopg.connect(**cluster.conninfo(), autocommit=True) as conn:
        role = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
            " FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert role == (False, False, False, False, False)
        figure("lab: super, createrole, createdb, replication, bypassrls", role, "all false")
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        assert owner == (pg.USER,)
        conn.execute("CREATE TABLE IF NOT EXISTS probe (x int)")  # what migrations need
        conn.execute("DROP TABLE probe")
        conn.execute("CREATE TEMP TABLE t (x text)")
        program = f"touch {private.marker}"
        refused = {
            "COPY FROM PROGRAM": "COPY pg_temp.t FROM PROGRAM 'id'",
            "COPY TO PROGRAM": f"COPY (SELECT 1) TO PROGRAM '{program}'",
            "pg_read_file": "SELECT pg_read_file('PG_VERSION')",
            "ALTER ROLE SUPERUSER": f"ALTER ROLE {pg.USER} SUPERUSER",
            "CREATE ROLE": "CREATE ROLE intruder LOGIN",
            "CREATE DATABASE": "CREATE DATABASE other",
        }
        for what, statement in refused.items():
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as error:
                conn.execute(statement)
            figure(f"lab: {what}", str(error.value).splitlines()[0], "permission denied")
    assert not private.marker.exists()
    # Control: the same COPY as the bootstrap superuser does run the program.
    with psycopg.connect(**cluster.admin_conninfo(pg.DBNAME), autocommit=True) as conn:
        conn.execute(f"COPY (SELECT 1) TO PROGRAM '{program}'")
    ran = private.marker.exists()
    figure("control: COPY TO PROGRAM as lab_admin ran it", ran, "True")
    assert ran
    private.marker.unlink()
