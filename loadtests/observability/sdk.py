"""The OpenTelemetry SDK as the ``opentelemetry`` stack runs it, started once in each worker.

Traces and metrics, both exported over OTLP/HTTP (protobuf) with the SDK's batch processors:
``BatchSpanProcessor`` (spans queued, sent in batches from a thread) and
``PeriodicExportingMetricReader`` (metrics collected and sent from a thread, every
``OTEL_METRIC_EXPORT_INTERVAL`` ms, 60 s by default). The Django, httpx and psycopg
instrumentations feed them. Endpoint, sampler and semantic conventions come from the environment
the stack sets (``loadtests.observability.stacks.OTEL_ENV``), as the SDK reads it.

When: at the app's import in each worker (``OpenTelemetryConfig.ready``, the Django app that
``settings_opentelemetry`` installs), after the server
forked or spawned it: the batch processors' threads do not survive a fork, and no server the lab
starts imports the app before forking (gunicorn runs with ``preload_app = False``). When the
worker stops, ``shutdown`` flushes what is queued (the last spans, one last collection of the
metrics): from the ASGI lifespan's shutdown (``mysite.lifespan``), because uvicorn's workers end
by re-raising SIGTERM, which skips ``atexit``; and from ``atexit`` for the WSGI workers.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import socket

from django.apps import AppConfig
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from mysite import lifespan

_started_in: int | None = None  # the pid that started it
_providers: list[TracerProvider | MeterProvider] = []


def start() -> None:
    """Start the SDK and the instrumentations in this process (once; again in a forked child)."""
    global _started_in
    if _started_in == os.getpid():
        return
    _started_in = os.getpid()
    # One instance per worker: each exports its own metric streams, which a backend (the
    # lab's receiver) adds up across workers.
    resource = Resource.create({"service.instance.id": f"{socket.gethostname()}-{os.getpid()}"})
    # The sampler is the one OTEL_TRACES_SAMPLER names (TracerProvider reads it).
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    reader = PeriodicExportingMetricReader(OTLPMetricExporter())
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[reader], shutdown_on_exit=False
    )
    _providers[:] = [tracer_provider, meter_provider]
    atexit.register(shutdown)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    providers = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
    # Its middleware goes first in MIDDLEWARE (outermost), as the instrumentation documents;
    # this runs before Django builds the handler, which reads MIDDLEWARE.
    DjangoInstrumentor().instrument(**providers)
    HTTPXClientInstrumentor().instrument(**providers)
    PsycopgInstrumentor().instrument(**providers)


def shutdown() -> None:
    """Export what is queued and stop the exporters' threads (once; later calls do nothing)."""
    while _providers:
        _providers.pop().shutdown()


async def flush() -> None:
    """The worker stops: its last spans and metrics go out (blocking calls, off the loop)."""
    await asyncio.to_thread(shutdown)


class OpenTelemetryConfig(AppConfig):
    name = "loadtests.observability"
    label = "lab_opentelemetry"
    verbose_name = "OpenTelemetry, as the lab's opentelemetry stack runs it"

    def ready(self) -> None:
        # Django calls ready() once a process has its apps, before a handler reads MIDDLEWARE:
        # in a server, in each worker after the fork. The launcher's system-check process
        # starts it too, briefly; it serves no request, so it exports no span.
        start()
        lifespan.on_shutdown(flush)
