"""The OTLP/HTTP receiver decodes what the SDK's own exporters send and counts it: spans by kind
and route, histogram counts by route, a cumulative stream once (its latest point), workers added."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from loadtests.observability.receiver import (
    METRICS_PATH,
    TRACES_PATH,
    Tally,
    counts,
    make_server,
)
from mysite.launcher import LOOPBACK


@pytest.fixture
def receiver() -> Iterator[str]:
    server = make_server(0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_counts_spans_the_sdk_exports_by_kind_and_route(receiver):
    # Compressed, as a deployment may configure it: the receiver inflates the body.
    exporter = OTLPSpanExporter(endpoint=receiver + TRACES_PATH, compression=Compression.Gzip)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for _ in range(3):
        with tracer.start_as_current_span("GET a/", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.route", "a/")
            with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT):
                pass
    provider.shutdown()

    got = counts(receiver)
    assert got.trace_exports == 6  # one request per span with the simple processor
    assert got.span_total("SERVER") == 3
    assert got.span_total("CLIENT") == 3
    assert got.server_spans_by_route == {"a/": 3}
    assert got.inner_spans_by_route == {"a/": {"GET": 3}}  # by their request's route


def test_counts_the_histogram_the_sdk_exports_by_route(receiver):
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=receiver + METRICS_PATH), export_interval_millis=3_600_000
    )
    provider = MeterProvider(metric_readers=[reader])
    histogram = provider.get_meter("test").create_histogram("http.server.request.duration")
    for route, times in (("a/", 4), ("b/", 1)):
        for _ in range(times):
            histogram.record(0.01, {"http.route": route})
    assert provider.force_flush()
    assert counts(receiver).histogram_counts == {"http.server.request.duration": {"a/": 4, "b/": 1}}
    # A second export of the same cumulative streams replaces the first: nothing is counted twice.
    histogram.record(0.01, {"http.route": "a/"})
    provider.shutdown()
    got = counts(receiver)
    assert got.histogram_counts["http.server.request.duration"] == {"a/": 5, "b/": 1}
    assert got.metric_exports == 2


def _attribute(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _histogram_export(worker: str, temporality, points: list[tuple[int, int]]):
    """One worker's export of ``http.server.request.duration`` for route ``a/``: (time, count)."""
    histogram = Histogram(
        aggregation_temporality=temporality,
        data_points=[
            HistogramDataPoint(
                attributes=[_attribute("http.route", "a/")],
                start_time_unix_nano=1,
                time_unix_nano=time,
                count=count,
            )
            for time, count in points
        ],
    )
    metric = Metric(name="http.server.request.duration", histogram=histogram)
    resource = Resource(attributes=[_attribute("service.instance.id", worker)])
    return ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(resource=resource, scope_metrics=[ScopeMetrics(metrics=[metric])])
        ]
    )


def test_cumulative_streams_count_their_latest_point_summed_across_workers():
    tally = Tally()
    cumulative = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    tally.add_metrics(_histogram_export("worker-1", cumulative, [(20, 5)]))
    tally.add_metrics(_histogram_export("worker-1", cumulative, [(10, 3)]))  # late, older
    tally.add_metrics(_histogram_export("worker-2", cumulative, [(15, 4)]))
    assert tally.counts().histogram_counts == {"http.server.request.duration": {"a/": 9}}
    assert tally.counts().data_points == 3


def test_delta_points_add_up():
    tally = Tally()
    delta = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    tally.add_metrics(_histogram_export("worker-1", delta, [(10, 2)]))
    tally.add_metrics(_histogram_export("worker-1", delta, [(20, 3)]))
    assert tally.counts().histogram_counts == {"http.server.request.duration": {"a/": 5}}
