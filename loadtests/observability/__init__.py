"""What each instrumentation stack exports, and what it costs: the stacks by name
(``stacks``), the OpenTelemetry SDK as the ``opentelemetry`` stack starts it (``sdk``), the lab's
OTLP/HTTP receiver (``receiver``), thread hops under ASGI (``hops``) and whether each stack counts
every request exactly once under several workers (``exactly_once``)."""
