"""The three database paths as Django ``DATABASES`` entries, built from the environment's values.

One alias per path, each with its own pool of ``DB_POOL_SIZE`` connections per worker, so that
a path's wait and connection counts are its own:

- ``default``: the sync ORM on psycopg 3 with Django's own pool (``OPTIONS["pool"]``); it also
  owns the schema (migrations run here);
- ``async_orm``: the same backend and pool kind, used through Django's async ORM API, which runs
  each query in a thread;
- ``native``: django-async-backend, asyncio psycopg connections in an ``AsyncConnectionPool``.

All three reach the same database, with every libpq parameter of the URL (the lab's own cluster
names its password file, ``passfile=``, so the URL holds no secret). ``DB_TIMEOUT`` bounds the
wait for a pooled connection (the pool's ``timeout``) and each statement (PostgreSQL's
``statement_timeout``, so the server itself cancels a statement that runs over, rather than the
client only giving up on it).

No Django model or app is imported here: ``settings.py`` calls ``databases()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from psycopg.conninfo import conninfo_to_dict

SYNC = "default"
ASYNC_ORM = "async_orm"
NATIVE = "native"
ALIASES = (SYNC, ASYNC_ORM, NATIVE)
# The pool names: the label db_client_connection_pool_name of the pool metrics.
POOL_NAMES = {SYNC: "sync_orm", ASYNC_ORM: "async_orm", NATIVE: "async_native"}
DJANGO_ENGINE = "django.db.backends.postgresql"
NATIVE_ENGINE = "django_async_backend.db.backends.postgresql"

DEFAULT_POOL_SIZE = 10
DEFAULT_TIMEOUT = 5.0
# libpq's connect_timeout is whole seconds, and it treats anything below 2 as 2.
_MIN_CONNECT_TIMEOUT = 2


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str
    pool_size: int
    timeout: float


def parse_pool_size(raw: str) -> int:
    if not (raw.strip().isdigit() and int(raw) >= 1):
        raise ImproperlyConfigured(f"DB_POOL_SIZE={raw!r} is not a whole number >= 1.")
    return int(raw)


def parse_timeout(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ImproperlyConfigured(f"DB_TIMEOUT={raw!r} is not a positive number of seconds.")
    return value


def _connection_fields(url: str) -> tuple[dict[str, str], dict[str, str]]:
    """Django's NAME/USER/PASSWORD/HOST/PORT and the remaining libpq parameters of a URL."""
    try:
        params = conninfo_to_dict(url)
    except Exception as error:  # psycopg raises ProgrammingError with libpq's reason
        raise ImproperlyConfigured(f"DATABASE_URL is not a PostgreSQL URL: {error}") from None
    fields = {
        "NAME": params.pop("dbname", ""),
        "USER": params.pop("user", ""),
        "PASSWORD": params.pop("password", ""),
        "HOST": params.pop("host", ""),
        "PORT": params.pop("port", ""),
    }
    return {k: str(v) for k, v in fields.items()}, {k: str(v) for k, v in params.items()}


def databases(config: DatabaseSettings) -> dict[str, dict]:
    fields, extra = _connection_fields(config.url)
    statement_timeout = f"-c statement_timeout={round(config.timeout * 1000)}"
    options = {
        **extra,
        "options": f"{extra['options']} {statement_timeout}"
        if extra.get("options")
        else statement_timeout,
        "connect_timeout": str(max(_MIN_CONNECT_TIMEOUT, math.ceil(config.timeout))),
    }

    def entry(alias: str, engine: str) -> dict:
        pool = {
            "name": POOL_NAMES[alias],
            # A fixed size, opened on first use: the benchmark measures a warm pool, and
            # max_connections must cover workers x pool whatever the load.
            "min_size": config.pool_size,
            "max_size": config.pool_size,
            "timeout": config.timeout,
        }
        return {
            "ENGINE": engine,
            **fields,
            "OPTIONS": {**options, "pool": pool},
            # Both mirror the default database in tests: one test database, three paths to it.
            "TEST": {} if alias == SYNC else {"MIRROR": SYNC},
        }

    return {
        SYNC: entry(SYNC, DJANGO_ENGINE),
        ASYNC_ORM: entry(ASYNC_ORM, DJANGO_ENGINE),
        NATIVE: entry(NATIVE, NATIVE_ENGINE),
    }


def connection_params(database: dict) -> dict[str, str]:
    """libpq's keywords for a ``DATABASES`` entry, for a client outside Django's pools: the URL's
    own parameters included (the lab's ``passfile``, a ``sslmode``), so it reaches the same
    server as the same role."""
    fields = {
        "dbname": database["NAME"],
        "user": database["USER"],
        "password": database["PASSWORD"],
        "host": database["HOST"],
        "port": database["PORT"],
    }
    options = {name: value for name, value in database["OPTIONS"].items() if name != "pool"}
    return {name: value for name, value in (fields | options).items() if value}
