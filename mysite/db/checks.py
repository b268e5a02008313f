"""The system check that PostgreSQL's ``max_connections`` covers every worker's pools.

Each worker holds up to ``DB_POOL_SIZE`` connections per database path, so PostgreSQL must
accept workers x paths x pool at once, and keep its reserved slots. The worker count is
``WEB_CONCURRENCY`` (uvicorn's and gunicorn's own variable, which the launcher sets); the check
asks the server itself, so a DATABASE_URL pointing at a smaller server is caught at start-up.
An unreachable server is not judged (the check passes): the views answer 503 with the reason
until it is up, and a check that warned would fail every start-up that comes before PostgreSQL's.
"""

import psycopg
from django.conf import settings
from django.core.checks import Error, register

from .databases import ALIASES, SYNC, connection_params

# Connections that are not the pools': psql, the seed command, the check itself.
SPARE_CONNECTIONS = 5


def connections_needed(workers: int, pool_size: int) -> int:
    return workers * len(ALIASES) * pool_size + SPARE_CONNECTIONS


@register()
def check_max_connections(app_configs=None, **kwargs) -> list:
    raw_workers = str(settings.DB_WORKERS)
    if not (raw_workers.isdigit() and int(raw_workers) >= 1):
        return [Error(f"WEB_CONCURRENCY={raw_workers!r} is not a whole number >= 1.", id="db.E002")]
    workers = int(raw_workers)
    database = settings.DATABASES[SYNC]
    try:
        with psycopg.connect(**(connection_params(database) | {"connect_timeout": "2"})) as conn:
            row = conn.execute(
                "SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
            ).fetchone()
    except psycopg.Error:
        return []
    available, needed = row[0], connections_needed(workers, settings.DB_POOL_SIZE)
    if available < needed:
        return [
            Error(
                f"PostgreSQL accepts {available} connections, but {workers} worker(s) x "
                f"{len(ALIASES)} database paths x DB_POOL_SIZE={settings.DB_POOL_SIZE} need "
                f"{needed} (with {SPARE_CONNECTIONS} spare).",
                hint="Lower DB_POOL_SIZE or the worker count, or raise max_connections.",
                id="db.E001",
            )
        ]
    return []
