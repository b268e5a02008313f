"""``make run``: the app under a server, with the lab's own upstream beside it.

The fan-out views call ``UPSTREAM_URL``. Left to its default that is the app's own ``/sync/api/``,
so the app would also serve (and count in its histograms) its own internal calls; here the lab's
light upstream (``loadtests.upstream_server``) runs beside the app and the app points at it.
An ``UPSTREAM_URL`` already set in the environment is kept and no upstream is started.
``--instrumentation`` picks the stack that measures the app (``loadtests.observability.stacks``;
``opentelemetry`` also starts the lab's OTLP receiver beside it). Options other than those below
go to ``python -m mysite.launcher``; Ctrl-C stops them all.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

from mysite.launcher import DEFAULT_PORT as APP_PORT
from mysite.launcher import LOOPBACK

from .observability import stacks
from .upstream_server import DEFAULT_PORT, serve_upstream

STOP_TIMEOUT = 30.0  # seconds the app has to stop after SIGTERM


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.run",
        description=__doc__.split("\n\n")[0],
        epilog="Any other option goes to python -m mysite.launcher (see its --help).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--upstream-port", type=int, default=DEFAULT_PORT, help="upstream port")
    parser.add_argument("--host", default=LOOPBACK, help="the app's address")
    parser.add_argument("--port", type=int, default=APP_PORT, help="the app's port")
    parser.add_argument(
        "--instrumentation",
        choices=stacks.STACK_NAMES,
        default=stacks.DEFAULT_STACK,
        help="what measures the app",
    )
    args, rest = parser.parse_known_args(argv)
    launcher = [sys.executable, "-m", "mysite.launcher", "--host", args.host]
    launcher += ["--port", str(args.port), *rest]
    with contextlib.ExitStack() as stack:
        measured = stack.enter_context(stacks.prepared(args.instrumentation))
        env = {**os.environ, **measured.env}
        print(f"Instrumentation: {measured.stack.label}", flush=True)
        if measured.receiver_url:
            print(f"OTLP receiver: {measured.receiver_url} (counts at /counts)", flush=True)
        if "UPSTREAM_URL" not in env:
            upstream = stack.enter_context(serve_upstream(port=args.upstream_port))
            env["UPSTREAM_URL"] = f"{upstream.url}/api/"
        print(f"Fan-out views call {env['UPSTREAM_URL']}", flush=True)
        print(f"Every route, with what to try: http://{args.host}:{args.port}/", flush=True)
        app = subprocess.Popen(launcher, env=env)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            return app.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the app too; SIGTERM did not
            app.terminate()
            return app.wait(timeout=STOP_TIMEOUT)


if __name__ == "__main__":
    sys.exit(main())
