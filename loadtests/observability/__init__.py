"""What each instrumentation stack exports, and what it costs: the stacks by name
(``stacks``), the OpenTelemetry SDK as the ``opentelemetry`` stack starts it (``sdk``), the lab's
OTLP/HTTP receiver (``receiver``) and thread hops under ASGI (``hops``). Whether each stack counts
every request exactly once under several workers is measured with live servers, beside the
other benchmarks: ``loadtests.bench.exactly_once``."""
