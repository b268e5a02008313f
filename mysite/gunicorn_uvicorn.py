"""uvicorn-worker's worker class, with the graceful timeout that gunicorn alone cannot pass on.

uvicorn-worker builds uvicorn's ``Config`` from gunicorn's settings but leaves out
``timeout_graceful_shutdown``: on SIGTERM uvicorn then waits for its connections without limit,
gunicorn's master SIGKILLs it at ``graceful_timeout`` and the lifespan shutdown never runs.
Here uvicorn stops waiting ``LIFESPAN_MARGIN`` before the master's ``graceful_timeout`` (the
launcher gives the master ``StopTimes.supervisor``, so the worker waits ``StopTimes.graceful``),
runs the lifespan shutdown, and exits before the master gives up on it.
"""

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker as _UvicornWorker

from mysite.shutdown import LIFESPAN_MARGIN


class UvicornWorker(_UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {**_UvicornWorker.CONFIG_KWARGS, "lifespan": "on"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.timeout_graceful_shutdown = max(
            round(self.cfg.graceful_timeout - LIFESPAN_MARGIN), 1
        )
