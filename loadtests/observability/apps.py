"""The Django app that starts the OpenTelemetry SDK in each worker (``settings_opentelemetry``)."""

import asyncio

from django.apps import AppConfig

from mysite import lifespan

from . import sdk


class OpenTelemetryConfig(AppConfig):
    name = "loadtests.observability"
    label = "lab_opentelemetry"
    verbose_name = "OpenTelemetry, as the lab's opentelemetry stack runs it"

    def ready(self) -> None:
        # Django calls ready() once a process has its apps, before a handler reads MIDDLEWARE:
        # in a server, in each worker after the fork. The launcher's system-check process
        # starts it too, briefly; it serves no request, so it exports no span.
        sdk.start()
        lifespan.on_shutdown(flush)


async def flush() -> None:
    """The worker stops: its last spans and metrics go out (blocking calls, off the loop)."""
    await asyncio.to_thread(sdk.shutdown)
