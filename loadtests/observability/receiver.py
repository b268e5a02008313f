"""A real OTLP/HTTP receiver on loopback: accepts what an OpenTelemetry SDK exports, and counts it.

The ``opentelemetry`` stack's workers export to it over OTLP/HTTP (protobuf), as they would to a
collector in production, so the export costs what it costs there. It decodes each request with
``opentelemetry-proto``, answers as a collector does, and keeps counts:

- spans by name and kind, server spans by ``http.route``, and the other spans by the route of
  their trace's server span (an upstream call's or a query's span, by the request that made it);
- for each histogram (``http.server.request.duration``, ``http.client.request.duration``...),
  its count by route: the latest point of each cumulative stream (one per worker and label set),
  summed across streams; delta points are added up.

``GET /counts`` gives them as JSON (``Counts``); ``GET /healthz`` says it is up.

    python -m loadtests.observability.receiver --port 4318

From Python, ``serve_receiver()`` runs it as a child process (stopped with the block, and by
Linux if its parent dies) and ``counts(url)`` reads it.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mysite.launcher import LOOPBACK, RunningProcess, free_port, managed_process

TRACES_PATH = "/v1/traces"
METRICS_PATH = "/v1/metrics"
COUNTS_PATH = "/counts"
# OTLP/HTTP's default port (the SDK's default endpoint is http://localhost:4318).
DEFAULT_PORT = 4318
# The attributes a server's histogram names its route by: the stable HTTP conventions, then
# the old ones (the Django instrumentation puts the route in http.target there).
ROUTE_ATTRIBUTES = ("http.route", "http.target")
NO_ROUTE = ""
PROTOBUF = "application/x-protobuf"


class SpanCount(msgspec.Struct, frozen=True):
    name: str
    kind: str  # SERVER, CLIENT, INTERNAL...
    count: int


class Counts(msgspec.Struct, frozen=True):
    """What the receiver got, as ``GET /counts`` serves it."""

    trace_exports: int  # export requests, each a batch
    metric_exports: int
    spans: list[SpanCount]
    server_spans_by_route: dict[str, int]
    # route of the trace's server span -> span name -> count, for the spans that are not SERVER
    # (a trace whose server span has not arrived counts under "")
    inner_spans_by_route: dict[str, dict[str, int]]
    # metric name -> route ("" when the points carry none) -> requests the histogram counted
    histogram_counts: dict[str, dict[str, int]]
    data_points: int  # histogram data points received, all exports together

    def span_total(self, kind: str) -> int:
        return sum(s.count for s in self.spans if s.kind == kind)


def _value(value: AnyValue) -> object:
    which = value.WhichOneof("value")
    return getattr(value, which) if which else None


def _attributes(pairs: list[KeyValue]) -> dict[str, object]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _route(attributes: dict[str, object]) -> str:
    return next((str(attributes[k]) for k in ROUTE_ATTRIBUTES if k in attributes), NO_ROUTE)


def _identity(attributes: dict[str, object]) -> tuple[str, ...]:
    return tuple(sorted(f"{k}={v!r}" for k, v in attributes.items()))


class Tally:
    """The counts, fed decoded export requests (thread-safe: the server runs a thread each)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trace_exports = 0
        self._metric_exports = 0
        self._spans: Counter[tuple[str, str]] = Counter()
        self._server_routes: Counter[str] = Counter()
        self._trace_routes: dict[bytes, str] = {}  # trace id -> its server span's route
        self._inner: Counter[tuple[bytes, str]] = Counter()  # (trace id, span name)
        # cumulative stream -> (time of its latest point, its count)
        self._cumulative: dict[tuple, tuple[int, int]] = {}
        self._delta: Counter[tuple[str, str]] = Counter()
        self._data_points = 0

    def add_traces(self, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            self._trace_exports += 1
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        kind = Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_")
                        self._spans[span.name, kind] += 1
                        if span.kind == Span.SpanKind.SPAN_KIND_SERVER:
                            route = _route(_attributes(span.attributes))
                            self._server_routes[route] += 1
                            self._trace_routes[span.trace_id] = route
                        else:
                            self._inner[span.trace_id, span.name] += 1

    def add_metrics(self, request: ExportMetricsServiceRequest) -> None:
        with self._lock:
            self._metric_exports += 1
            for resource_metrics in request.resource_metrics:
                resource = _identity(_attributes(resource_metrics.resource.attributes))
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        if metric.WhichOneof("data") == "histogram":
                            self._add_histogram(resource, scope_metrics.scope.name, metric)

    def _add_histogram(self, resource: tuple, scope: str, metric) -> None:
        cumulative = (
            metric.histogram.aggregation_temporality
            == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
        )
        for point in metric.histogram.data_points:
            self._data_points += 1
            attributes = _attributes(point.attributes)
            route = _route(attributes)
            if not cumulative:
                self._delta[metric.name, route] += point.count
                continue
            labels = _identity(attributes)
            stream = (resource, scope, metric.name, route, labels, point.start_time_unix_nano)
            latest = self._cumulative.get(stream)
            if latest is None or point.time_unix_nano >= latest[0]:
                self._cumulative[stream] = (point.time_unix_nano, point.count)

    def counts(self) -> Counts:
        with self._lock:
            histograms: Counter[tuple[str, str]] = Counter(self._delta)
            for (_, _, name, route, _, _), (_, count) in self._cumulative.items():
                histograms[name, route] += count
            inner: dict[str, Counter[str]] = {}
            for (trace_id, name), count in self._inner.items():
                route = self._trace_routes.get(trace_id, NO_ROUTE)
                inner.setdefault(route, Counter())[name] += count
            by_metric: dict[str, dict[str, int]] = {}
            for (name, route), count in sorted(histograms.items()):
                by_metric.setdefault(name, {})[route] = count
            return Counts(
                trace_exports=self._trace_exports,
                metric_exports=self._metric_exports,
                spans=[SpanCount(n, k, c) for (n, k), c in sorted(self._spans.items())],
                server_spans_by_route=dict(sorted(self._server_routes.items())),
                inner_spans_by_route={r: dict(sorted(c.items())) for r, c in sorted(inner.items())},
                histogram_counts=by_metric,
                data_points=self._data_points,
            )


class _Handler(BaseHTTPRequestHandler):
    tally: Tally
    protocol_version = "HTTP/1.1"  # keep-alive, as the exporter's session expects

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding", "") == "gzip":
            body = gzip.decompress(body)
        if self.path == TRACES_PATH:
            self.tally.add_traces(ExportTraceServiceRequest.FromString(body))
            self._send(200, ExportTraceServiceResponse().SerializeToString(), PROTOBUF)
        elif self.path == METRICS_PATH:
            self.tally.add_metrics(ExportMetricsServiceRequest.FromString(body))
            self._send(200, ExportMetricsServiceResponse().SerializeToString(), PROTOBUF)
        else:
            self._send(404, b"", PROTOBUF)

    def do_GET(self) -> None:
        if self.path == COUNTS_PATH:
            self._send(200, msgspec.json.encode(self.tally.counts()), "application/json")
        elif self.path == "/healthz":
            self._send(200, b'{"status": "ok"}', "application/json")
        else:
            self._send(404, b"{}", "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: one line per export would drown the log."""


def make_server(port: int, tally: Tally | None = None) -> ThreadingHTTPServer:
    """The receiver on loopback (``port`` 0: any free one), not yet serving."""
    handler = type("Handler", (_Handler,), {"tally": tally or Tally()})
    server = ThreadingHTTPServer((LOOPBACK, port), handler)
    server.daemon_threads = True
    return server


@contextlib.contextmanager
def serve_receiver(port: int | None = None) -> Iterator[RunningProcess]:
    """The receiver as its own process on loopback for the block's duration."""
    port = port or free_port()
    argv = [sys.executable, "-m", "loadtests.observability.receiver", "--port", str(port)]
    with managed_process(f"otlp-receiver-{port}", argv, f"http://{LOOPBACK}:{port}") as running:
        yield running


def counts(url: str) -> Counts:
    """What the receiver at ``url`` has counted so far."""
    with urllib.request.urlopen(url + COUNTS_PATH, timeout=10) as response:
        return msgspec.json.decode(response.read(), type=Counts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.observability.receiver",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="loopback port")
    args = parser.parse_args(argv)
    server = make_server(args.port)
    print(f"OTLP/HTTP receiver on http://{LOOPBACK}:{args.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
