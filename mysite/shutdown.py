"""How long a server gives the requests in flight when it is told to stop (SIGTERM, a reload).

The longest legitimate request decides it; ``mysite.bounds`` computes that from the settings
and the parameter bounds, and the launcher hands it to every server kind as ``StopTimes``.
Each kind waits that long plus a margin for the response to be written, and only then cuts
what is left; the supervisor above it (gunicorn's master, the launcher's
``stop_process_group``) waits longer still, so the worker's own shutdown (the ASGI lifespan
shutdown) runs before anyone sends SIGKILL.

Standard library only, and no Django: gunicorn's worker class reads it too.
"""

import math
from dataclasses import dataclass

# Writing the response, and the request that arrived just before the stop.
RESPONSE_MARGIN = 5.0
# The lifespan shutdown after the graceful wait (release pools, mark the metric files dead).
LIFESPAN_MARGIN = 5.0
# The longest request at the default settings (tests/demo/test_bounds.py checks it against
# mysite.bounds): what a caller that cannot read the server's settings assumes.
LONGEST_REQUEST = 15.0


@dataclass(frozen=True, slots=True)
class StopTimes:
    """The waits of a graceful stop, in seconds, all following from the longest request."""

    longest_request: float

    @property
    def graceful(self) -> float:
        """What the server itself waits for requests in flight (uvicorn's
        --timeout-graceful-shutdown, gunicorn gthread's graceful_timeout, granian's
        --workers-kill-timeout, a uvicorn worker's under gunicorn)."""
        return self.longest_request + RESPONSE_MARGIN

    @property
    def supervisor(self) -> float:
        """gunicorn's master, for a uvicorn worker that itself waits ``graceful``."""
        return self.graceful + LIFESPAN_MARGIN

    @property
    def stop_grace(self) -> float:
        """Whoever started the server group waits this long after SIGTERM before SIGKILL."""
        return self.supervisor + LIFESPAN_MARGIN


AT_DEFAULTS = StopTimes(LONGEST_REQUEST)


def seconds(value: float) -> str:
    """A duration as the servers' command lines take it (whole seconds, never rounded down)."""
    return str(math.ceil(value))
