"""Start-up and shut-down hooks for ASGI workers.

Django's ASGI handler speaks only HTTP. ``with_lifespan`` wraps it so each worker process can
start per-event-loop work (the loop-lag monitor) and release what it holds (upstream connection
pools, its live metric files) when the server stops it. Apps register hooks in ``ready()``.
"""

import logging
import os
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]
# The evidence, in the server's log, of each worker's lifespan (tests/reliability reads it).
STARTUP_COMPLETE = "lifespan startup complete"
SHUTDOWN_COMPLETE = "lifespan shutdown complete"
_startup: list[Hook] = []
_shutdown: list[Hook] = []


def on_startup(hook: Hook) -> None:
    if hook not in _startup:
        _startup.append(hook)


def on_shutdown(hook: Hook) -> None:
    if hook not in _shutdown:
        _shutdown.append(hook)


async def run_startup() -> None:
    for hook in _startup:
        await hook()
    logger.info("%s in worker %d", STARTUP_COMPLETE, os.getpid())


async def run_shutdown() -> None:
    # Every hook runs even when one fails: a worker that stops must release all it holds.
    for hook in reversed(_shutdown):
        try:
            await hook()
        except Exception:
            logger.exception("shutdown hook %r failed", hook)
    logger.info("%s in worker %d", SHUTDOWN_COMPLETE, os.getpid())


def with_lifespan(app):
    async def application(scope, receive, send):
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await run_startup()
                except Exception as exc:
                    logger.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await run_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    return application
