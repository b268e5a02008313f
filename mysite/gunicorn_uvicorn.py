"""uvicorn-worker's worker class, with the graceful timeout that gunicorn alone cannot pass on.

uvicorn-worker builds uvicorn's ``Config`` from gunicorn's settings but leaves out
``timeout_graceful_shutdown``: on SIGTERM uvicorn then waits for its connections without limit,
gunicorn's master SIGKILLs it at ``graceful_timeout`` and the lifespan shutdown never runs.
Here uvicorn stops waiting at ``GRACEFUL_TIMEOUT``, runs the lifespan shutdown, and exits
before the master's longer ``SUPERVISOR_TIMEOUT``.
"""

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker as _UvicornWorker

from mysite.shutdown import GRACEFUL_TIMEOUT


class UvicornWorker(_UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **_UvicornWorker.CONFIG_KWARGS,
        "timeout_graceful_shutdown": round(GRACEFUL_TIMEOUT),
        "lifespan": "on",
    }
