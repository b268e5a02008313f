"""How long a server gives the requests in flight when it is told to stop (SIGTERM, a reload).

The longest legitimate request decides it: ``delay`` may be up to 10 s (``MAX_DELAY``), and the
sequential fan-out makes ``DEFAULT_FANOUT`` calls of the default delay one after another, about
10 s. Every server kind waits that long plus a margin for the response to be written, and only
then cuts what is left; the supervisor above it (gunicorn's master, the launcher's
``stop_process_group``) waits longer still, so the worker's own shutdown (the ASGI lifespan
shutdown) runs before anyone sends SIGKILL.

Standard library only, and no Django: the launcher reads it before exec. tests/test_launcher.py
checks ``LONGEST_REQUEST`` against the demo's limits, so the two cannot drift apart.
"""

# max(MAX_DELAY, DEFAULT_FANOUT * DEFAULT_DELAY) of mysite.demo.params, in seconds.
LONGEST_REQUEST = 10.0
# Writing the response, and the request that arrived just before the stop.
RESPONSE_MARGIN = 5.0
# What the server itself waits for requests in flight (uvicorn's --timeout-graceful-shutdown,
# gunicorn's graceful_timeout for gthread workers, granian's --workers-kill-timeout).
GRACEFUL_TIMEOUT = LONGEST_REQUEST + RESPONSE_MARGIN
# The lifespan shutdown after the graceful wait (release pools, mark the metric files dead).
LIFESPAN_MARGIN = 5.0
# gunicorn's master waits this long for a uvicorn worker that itself waits GRACEFUL_TIMEOUT.
SUPERVISOR_TIMEOUT = GRACEFUL_TIMEOUT + LIFESPAN_MARGIN
# Whoever started the server group waits this long after SIGTERM before SIGKILL.
STOP_GRACE = SUPERVISOR_TIMEOUT + LIFESPAN_MARGIN


def seconds(value: float) -> str:
    """A duration as the servers' command lines take it (whole seconds)."""
    return str(round(value))
