"""The database views' parameters and settings, without PostgreSQL: a bad value is a 400 (or a
refused setting) before any connection is asked for."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from mysite.db import cluster as pg
from mysite.db import databases
from mysite.db.checks import connections_needed

from .conftest import PATHS

BAD_QUERIES = [
    ({"rows": "0"}, "rows must be between 1 and 100"),
    ({"rows": "101"}, "rows must be between 1 and 100"),
    ({"rows": "ten"}, "rows must be a whole number"),
    ({"rows": "1.5"}, "rows must be a whole number"),
    ({"rows": "-1"}, "rows must be a whole number"),
    ({"rows": ["1", "2"]}, "rows is given more than once"),
    ({"delay": "nan"}, "delay must be a number of seconds"),
    ({"delay": "inf"}, "delay must be a number of seconds"),
    ({"delay": "11"}, "delay must be between 0 and 10 seconds"),
    ({"delay": "-1"}, "delay must be between 0 and 10 seconds"),
]


@pytest.mark.parametrize(("query", "reason"), BAD_QUERIES)
def test_sync_view_refuses_bad_parameters(client, query, reason):
    response = client.get(PATHS["sync"], query)
    assert response.status_code == 400
    assert response.json() == {"error": reason}


@pytest.mark.parametrize("path", [PATHS["async"], PATHS["native"]])
@pytest.mark.parametrize(("query", "reason"), BAD_QUERIES)
async def test_async_views_refuse_bad_parameters(async_client, path, query, reason):
    response = await async_client.get(path, query)
    assert response.status_code == 400
    assert response.json() == {"error": reason}


def test_native_view_says_it_needs_asgi_under_wsgi(client):
    response = client.get(PATHS["native"], {"delay": "0"})
    assert response.status_code == 501
    assert "ASGI" in response.json()["error"]


@pytest.mark.parametrize("path", PATHS.values())
def test_other_methods_are_refused(client, path):
    assert client.generic("POST", path).status_code == 405  # no body: a body would be a 413


def test_databases_one_alias_per_path_each_with_its_pool_and_timeouts():
    config = databases.DatabaseSettings(
        "postgresql://me:secret@db.example:6543/shop?sslmode=require", 7, 2.5
    )
    built = databases.databases(config)
    assert set(built) == set(databases.ALIASES)
    for alias, entry in built.items():
        assert (entry["NAME"], entry["USER"], entry["PASSWORD"]) == ("shop", "me", "secret")
        assert (entry["HOST"], entry["PORT"]) == ("db.example", "6543")
        options = entry["OPTIONS"]
        assert options["sslmode"] == "require"
        assert options["options"] == "-c statement_timeout=2500"
        assert options["connect_timeout"] == "3"
        assert options["pool"] == {
            "name": databases.POOL_NAMES[alias],
            "min_size": 7,
            "max_size": 7,
            "timeout": 2.5,
        }
    assert built[databases.NATIVE]["ENGINE"] == databases.NATIVE_ENGINE
    assert built[databases.ASYNC_ORM]["TEST"] == {"MIRROR": databases.SYNC}


def test_a_url_with_its_own_server_options_keeps_them():
    config = databases.DatabaseSettings("postgresql:///lab?options=-c%20work_mem%3D8MB", 1, 5)
    options = databases.databases(config)[databases.SYNC]["OPTIONS"]
    assert options["options"] == "-c work_mem=8MB -c statement_timeout=5000"


def test_the_lab_clusters_url_names_its_password_file_and_every_client_gets_it(tmp_path):
    """The lab's URL holds no password: it names the pgpass file, which reaches Django's
    connections (OPTIONS) and the clients outside its pools (the system check)."""
    cluster = pg.Cluster(tmp_path / "q'$(x)\" z")
    assert "secret" not in cluster.url()
    entry = databases.databases(databases.DatabaseSettings(cluster.url(), 1, 5))[databases.SYNC]
    assert (entry["NAME"], entry["USER"], entry["PASSWORD"]) == (pg.DBNAME, pg.USER, "")
    assert entry["HOST"] == str(cluster.socket_dir)
    assert entry["OPTIONS"]["passfile"] == str(cluster.passfile)
    params = databases.connection_params(entry)
    assert params == {
        "dbname": pg.DBNAME,
        "user": pg.USER,
        "host": str(cluster.socket_dir),
        "passfile": str(cluster.passfile),
        "options": "-c statement_timeout=5000",
        "connect_timeout": "5",
    }


@pytest.mark.parametrize("raw", ["0", "-1", "two", "1.5", ""])
def test_bad_pool_size_is_refused(raw):
    with pytest.raises(ImproperlyConfigured, match="DB_POOL_SIZE"):
        databases.parse_pool_size(raw)


@pytest.mark.parametrize("raw", ["0", "-1", "nan", "inf", "soon"])
def test_bad_timeout_is_refused(raw):
    with pytest.raises(ImproperlyConfigured, match="DB_TIMEOUT"):
        databases.parse_timeout(raw)


def test_bad_database_url_is_refused():
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        databases.databases(databases.DatabaseSettings("postgresql://[::1", 1, 1))


def test_connections_needed_covers_every_worker_path_and_pool():
    assert connections_needed(workers=4, pool_size=10) == 4 * 3 * 10 + 5
