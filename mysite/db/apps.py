import asyncio

from django.apps import AppConfig


class DbConfig(AppConfig):
    name = "mysite.db"
    label = "lab_db"
    verbose_name = "The database views: sync ORM, async ORM, native async backend"

    def ready(self) -> None:
        from mysite import lifespan

        from . import checks, instrumentation  # noqa: F401  (registers checks and receivers)

        lifespan.on_shutdown(close_pools)


async def close_pools() -> None:
    """An ASGI worker's shutdown hook: close its pools, so PostgreSQL sees clean goodbyes."""
    from django.db.backends.postgresql.base import DatabaseWrapper
    from django_async_backend.db.backends.postgresql.async_base import AsyncDatabaseWrapper

    for pool in list(AsyncDatabaseWrapper._connection_pools.values()):
        await pool.close()
    AsyncDatabaseWrapper._connection_pools.clear()
    # Closing a sync pool joins its worker threads: off the event loop.
    for pool in list(DatabaseWrapper._connection_pools.values()):
        await asyncio.to_thread(pool.close)
    DatabaseWrapper._connection_pools.clear()
