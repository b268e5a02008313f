"""Whether a sync view's client has gone away, where the server lets the app see it.

gunicorn hands the app the client's socket (``gunicorn.socket``): a client that closed its end
makes it readable with nothing to read. A peek, never a read, so nothing is taken from the
connection. Other servers give a sync view no way to know (WSGI has no disconnect signal, and
under ASGI a sync view runs in a thread that cannot be cancelled): their calls end at their
deadline instead.
"""

import socket
from collections.abc import Callable

from django.http import HttpRequest

ClientGone = Callable[[], bool]


def watcher(request: HttpRequest) -> ClientGone | None:
    """A cheap check that the request's client has closed its connection; None if unknowable."""
    sock = request.META.get("gunicorn.socket")
    if not isinstance(sock, socket.socket) or hasattr(sock, "context"):  # TLS: no plain peek
        return None

    def gone() -> bool:
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False  # nothing sent, connection open: still waiting for us
        except OSError:
            return True  # reset

    return gone
