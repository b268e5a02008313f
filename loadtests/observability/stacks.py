"""The instrumentation stacks, by name: what a server needs to run the app under each.

One place maps a stack's name to its settings module and environment, for ``make run
INSTRUMENTATION=name`` (``loadtests.run``), the tests and the sweep's capacity phase:

- ``none``: the app with its metrics middleware out (``METRICS_ENABLED=false``);
- ``lab``: the app as shipped (its own async-native middleware, exact across workers);
- ``django-prometheus``: ``loadtests.bench.settings_django_prometheus`` (its middleware pair,
  ours out), the overhead benchmark's comparison;
- ``opentelemetry``: ``loadtests.observability.settings_opentelemetry``: the Django, httpx and
  psycopg instrumentations, the SDK exporting traces and metrics over OTLP/HTTP with its batch
  processors to the lab's own receiver (``loadtests.observability.receiver``), ours out.

The mapping lives here, on the measuring side, and reaches the launcher as
``DJANGO_SETTINGS_MODULE`` plus environment: the settings modules of the other stacks import
their libraries, which the app under test (``mysite``) never does, so the launcher knows no
stack by name.

    with prepared("opentelemetry") as stack:
        with serve("uvicorn", 2, env=stack.env):
            ...
        receiver.counts(stack.receiver_url)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from loadtests.model.experiment import DEFAULT_STACK, STACK_NAMES

from .receiver import serve_receiver

APP_SETTINGS = "mysite.settings"


@dataclass(frozen=True)
class Stack:
    name: str
    label: str
    settings: str  # DJANGO_SETTINGS_MODULE
    env: dict[str, str] = field(default_factory=dict)
    exports_otlp: bool = False  # needs a receiver: its endpoint goes in OTEL_EXPORTER_OTLP_ENDPOINT


# The sampler the opentelemetry stack runs with, by the SDK's own name for it
# (OTEL_TRACES_SAMPLER): the SDK's default, every root span sampled and a parent's decision
# followed. Named here so the figures say what they measured; set the variable (and
# OTEL_TRACES_SAMPLER_ARG) in the environment to measure another.
OTEL_SAMPLER = "parentbased_always_on"
OTEL_ENV = {
    "OTEL_TRACES_SAMPLER": OTEL_SAMPLER,
    # The stable HTTP conventions (http.server.request.duration in seconds, by http.route),
    # which the lab's own metric names follow, rather than the old http.server.duration in ms.
    "OTEL_SEMCONV_STABILITY_OPT_IN": "http",
    "OTEL_SERVICE_NAME": "django-async-lab",
}

STACKS = {
    s.name: s
    for s in (
        Stack("none", "no instrumentation", APP_SETTINGS, {"METRICS_ENABLED": "false"}),
        Stack("lab", "the lab's middleware", APP_SETTINGS, {"METRICS_ENABLED": "true"}),
        Stack(
            "django-prometheus",
            "django-prometheus",
            "loadtests.bench.settings_django_prometheus",
            {"METRICS_ENABLED": "false"},
        ),
        Stack(
            "opentelemetry",
            "OpenTelemetry (traces and metrics over OTLP/HTTP)",
            "loadtests.observability.settings_opentelemetry",
            {"METRICS_ENABLED": "false", **OTEL_ENV},
            exports_otlp=True,
        ),
    )
}
assert tuple(STACKS) == STACK_NAMES, "one stack for each name the experiments use"


def parse_stacks(names: str) -> list[str]:
    """``"none,lab"`` -> the names, checked, in order, each once (``INSTRUMENTATION=<list>``)."""
    chosen = list(dict.fromkeys(n.strip() for n in names.split(",") if n.strip()))
    if unknown := [n for n in chosen if n not in STACKS]:
        raise ValueError(
            f"unknown instrumentation {unknown[0]!r}; choose from {', '.join(STACK_NAMES)}"
        )
    return chosen or [DEFAULT_STACK]


@dataclass(frozen=True)
class PreparedStack:
    """A stack ready to serve under: the environment to give the server (settings module
    included), and the receiver's URL when the stack exports over OTLP."""

    stack: Stack
    env: dict[str, str]
    receiver_url: str | None = None
    receiver_pid: int | None = None  # to pin it away from the server it receives from


def server_env(name: str, receiver_url: str | None = None) -> dict[str, str]:
    """The environment a server needs to run the app under stack ``name`` (``receiver_url``:
    where an OTLP-exporting stack sends, which the SDK's exporters add /v1/traces and
    /v1/metrics to)."""
    chosen = STACKS[name]
    otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver_url} if receiver_url else {}
    return {"DJANGO_SETTINGS_MODULE": chosen.settings, **chosen.env, **otlp}


@contextlib.contextmanager
def prepared(name: str, receiver_port: int | None = None) -> Iterator[PreparedStack]:
    """Stack ``name`` ready to serve under for the block: its receiver (a fresh one, on
    ``receiver_port`` or a free port) runs while the block does, when the stack needs one."""
    chosen = STACKS[name]
    if not chosen.exports_otlp:
        yield PreparedStack(chosen, server_env(name))
        return
    with serve_receiver(receiver_port) as receiver:
        yield PreparedStack(chosen, server_env(name, receiver.url), receiver.url, receiver.pid)
