"""The lab's PostgreSQL: started, ready, stopped, leaving no process and no socket; the seed is
idempotent; the system check compares the server's max_connections with the pools."""

import contextlib
import os
import shutil
import subprocess
import sys

import psutil
import pytest

from mysite.db import cluster as pg
from mysite.db.seed import SEED_ROWS, expected_rows

from .conftest import new_cluster_root, sql

pytestmark = pytest.mark.live


def postmaster_pid(cluster: pg.Cluster) -> int:
    return int((cluster.data / "postmaster.pid").read_text().split()[0])


def is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def server_processes(cluster: pg.Cluster) -> list[psutil.Process]:
    """Every PostgreSQL process of this cluster: each works in its data directory (the command
    line does not name it: pg_ctl gets it from PGDATA)."""
    found = []
    for process in psutil.process_iter(["name", "status"]):
        with contextlib.suppress(psutil.Error):
            if process.info["status"] != psutil.STATUS_ZOMBIE and process.cwd() == str(
                cluster.data
            ):
                found.append(process)
    return found


def test_start_and_stop_leave_no_process_and_no_socket():
    root = new_cluster_root()
    try:
        with pg.running(root) as cluster:
            assert pg.is_running(cluster)
            assert cluster.socket.exists()
            pid = postmaster_pid(cluster)
            children = psutil.Process(pid).children(recursive=True)
            assert children, "a running PostgreSQL has its background processes"
            seen = {process.pid for process in server_processes(cluster)}
            # The finder used below sees this cluster's processes while it runs.
            assert pid in seen
            assert len(seen) > 1
            assert sql(cluster, "SELECT current_setting('fsync')") == [("off",)]
            assert sql(cluster, "SHOW max_connections") == [(str(pg.MAX_CONNECTIONS),)]
            # A second start finds it running and leaves it to whoever started it.
            assert pg.start(cluster) is False
        assert is_gone(pid)
        assert all(is_gone(child.pid) for child in children)
        assert server_processes(cluster) == []
        assert list(cluster.socket_dir.iterdir()) == [], "no socket or lock file left"
        assert not pg.is_running(cluster)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_cluster_stops_when_its_block_fails():
    root = new_cluster_root()
    try:
        seen: list[pg.Cluster] = []

        def fail_inside() -> None:
            with pg.running(root) as cluster:
                seen.append(cluster)
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            fail_inside()
        assert not pg.is_running(seen[0])
        assert server_processes(seen[0]) == []
        assert list(seen[0].socket_dir.iterdir()) == []
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_cluster_made_by_the_trusting_lab_is_refused_with_the_way_out():
    """Data without the generated passwords (an older lab's, trust authentication) is not
    started: the message says how to replace it."""
    root = new_cluster_root()
    try:
        cluster = pg.Cluster(root)
        cluster.data.mkdir(parents=True)
        (cluster.data / "PG_VERSION").write_text("15\n")
        with pytest.raises(pg.ClusterError, match="trust authentication") as refused:
            pg.start(cluster)
        assert f"remove {cluster.data}" in str(refused.value)
        assert not cluster.passfile.exists()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("name", ["a,b", "line\nbreak"])
def test_a_root_libpq_or_the_config_cannot_name_is_refused(name, tmp_path):
    with pytest.raises(pg.ClusterError, match=r"comma|control character"):
        pg.init(pg.Cluster(tmp_path / name))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the cluster as another user")
def test_a_root_the_postgres_user_cannot_reach_is_refused_with_the_folder_that_blocks():
    """A checkout under a 0700 folder of root's (/root, mktemp -d): initdb, as postgres, could
    not open its password file; the lab names the folder and the way out first."""
    private = new_cluster_root()  # 0700, root's
    try:
        with pytest.raises(pg.ClusterError, match=f"cannot enter {private} \\(mode 0700\\)"):
            pg.init(pg.Cluster(private / "checkout" / "var"))
        assert not (private / "checkout" / "var" / "data").exists()
    finally:
        shutil.rmtree(private, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the cluster as another user")
def test_under_root_the_cluster_runs_as_the_postgres_user(postgres):
    process = psutil.Process(postmaster_pid(postgres))
    assert process.username() == pg.SERVICE_USER


def test_the_seed_is_idempotent_and_puts_edited_rows_back(postgres):
    sql(postgres, "UPDATE lab_item SET value = -1 WHERE id = 1 RETURNING id")
    sql(
        postgres,
        "INSERT INTO lab_item (id, name, value) VALUES (%s, 'extra', 0) RETURNING id",
        [SEED_ROWS + 1],
    )
    pg.prepare(postgres)
    pg.prepare(postgres)
    assert sql(postgres, "SELECT count(*) FROM lab_item") == [(SEED_ROWS,)]
    first = sql(postgres, "SELECT id, name, value FROM lab_item ORDER BY id LIMIT 3")
    assert [dict(zip(("id", "name", "value"), row, strict=True)) for row in first] == (
        expected_rows(3)
    )


def run_check(postgres, workers: int, pool_size: int) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mysite.settings",
        "DJANGO_SECRET_KEY": "check-only-" + "x" * 50,
        "DATABASE_URL": postgres.url(),
        "WEB_CONCURRENCY": str(workers),
        "DB_POOL_SIZE": str(pool_size),
    }
    return subprocess.run(
        [sys.executable, "-m", "django", "check", "--fail-level", "ERROR"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_system_check_refuses_pools_that_max_connections_cannot_cover(postgres):
    assert run_check(postgres, workers=4, pool_size=10).returncode == 0
    refused = run_check(postgres, workers=20, pool_size=10)
    assert refused.returncode != 0
    assert "db.E001" in refused.stderr
    assert "need 605" in refused.stderr
