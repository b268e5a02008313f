"""The locustfile's own options, and the user class that runs one scenario (``make locust``).

Locust prints its ``--help`` before it loads a locustfile, so these options never show there:
``python -m loadtests.locust_options --help`` lists them with their defaults, and
``python -m loadtests.locust_options async-api`` prints the user class ``make locust
SCENARIO=async-api`` runs (AsyncApiUser).
"""

from __future__ import annotations

import argparse
import sys

from .scenarios import DB_SCENARIOS, LOAD_DELAY_S, LOAD_FANOUT, SCENARIOS

ALL = {**SCENARIOS, **DB_SCENARIOS}
DEFAULT_SCENARIO = "async-api"  # what `make locust` runs unless told: never the anti-pattern


def add_arguments(parser) -> None:
    """The locustfile's custom options (Locust shows them in its web UI too)."""
    parser.add_argument(
        "--delay",
        type=float,
        default=LOAD_DELAY_S,
        help="seconds each view (or each upstream call) waits (default: %(default)s)",
    )
    parser.add_argument(
        "--fanout",
        type=int,
        default=LOAD_FANOUT,
        help="upstream calls per fan-out request (default: %(default)s)",
    )
    parser.add_argument(
        "--new-connections",
        action="store_true",
        default=False,
        help="a new connection for every request (Connection: close), so that the kernel "
        "spreads requests over a multi-worker server's workers, as the sweep does; "
        "loadtests/locust.conf (make locust) turns it on (default: %(default)s)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.locust_options",
        description=__doc__.split("\n\n")[0],
        epilog="Locust's own options: locust --help.",
    )
    parser.add_argument(
        "scenario",
        nargs="?",
        default=DEFAULT_SCENARIO,
        choices=list(ALL),
        help="print the user class of this scenario (default: %(default)s)",
    )
    add_arguments(parser)
    print(ALL[parser.parse_args(argv).scenario].user_class)
    return 0


if __name__ == "__main__":
    sys.exit(main())
