"""The sweep's command line: its options, and the checks that refuse a bad one before any load."""

from __future__ import annotations

import argparse
import ipaddress
import re
import urllib.parse
from pathlib import Path

from loadtests.analysis.capacity import INSTRUMENTATION
from loadtests.scenarios import SCENARIOS
from mysite.launcher import SERVER_KINDS

from .capacity_plan import MAPPED_BY_DEFAULT, matching, plans_for
from .cell import SERVER_READY_TIMEOUT
from .db_compare import PLANS as COMPARED_BY_DEFAULT
from .plan import PROFILES, parse_cell
from .serverlife import RUN_BY_DEFAULT as SERVER_LIFE_BY_DEFAULT

REPORTS = Path("reports")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.sweep",
        description="Sweep server kinds x worker counts x scenarios with Locust; write a report.",
        epilog="Results: reports/<run-id>/{results.json,summary.md,report.html}; "
        "reports/latest points at the newest run.",
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="default",
        help="; ".join(f"{p.name}: {p.description}" for p in PROFILES.values())
        + " (default: %(default)s)",
    )
    parser.add_argument(
        "--servers", nargs="+", choices=SERVER_KINDS, help="server kinds (default: the profile's)"
    )
    parser.add_argument(
        "--workers", nargs="+", type=int, help="worker counts (default: the profile's)"
    )
    parser.add_argument(
        "--scenarios", nargs="+", choices=list(SCENARIOS), help="scenarios (default: the profile's)"
    )
    parser.add_argument(
        "--cell",
        action="append",
        default=[],
        metavar="SERVER:WORKERS:SCENARIO",
        help="measure just this cell (repeatable); replaces the profile's matrix",
    )
    parser.add_argument(
        "--db-pool-sizes",
        dest="db_pools",
        nargs="+",
        type=int,
        metavar="N",
        help="DB_POOL_SIZE per worker of each database cell, one cell per size "
        "(default: the profile's)",
    )
    parser.add_argument(
        "--users", type=int, help="concurrent Locust users per cell (default: the profile's)"
    )
    parser.add_argument(
        "--delay",
        type=float,
        help="seconds each view or upstream call waits (default: the profile's)",
    )
    parser.add_argument(
        "--fanout", type=int, help="upstream calls per fan-out request (default: the profile's)"
    )
    parser.add_argument(
        "--threads", type=int, help="threads per gunicorn gthread worker (default: the profile's)"
    )
    parser.add_argument(
        "--warmup", type=float, help="least seconds of warm-up per run (default: the profile's)"
    )
    parser.add_argument(
        "--duration", type=float, dest="window", help="seconds per window (default: the profile's)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="fresh runs per cell (windows, with --no-restart-per-repeat) (default: the profile's)",
    )
    parser.add_argument(
        "--windows-per-run",
        type=int,
        help="measured windows per fresh run (default: the profile's)",
    )
    parser.add_argument(
        "--restart-per-repeat",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a fresh server and Locust for every repeat (default: per profile)",
    )
    parser.add_argument(
        "--keep-alive",
        action="store_true",
        help="users keep their connection (default: a new one per request, so the kernel "
        "spreads requests over the workers)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        help="stop the sweep after this many seconds (default: the profile's)",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=SERVER_READY_TIMEOUT,
        help="seconds a started server has to answer /healthz before its cell fails "
        "(default: %(default)g)",
    )
    parser.add_argument(
        "--out", type=Path, default=REPORTS, help="reports directory (default: %(default)s)"
    )
    parser.add_argument("--run-id", help="name of the run's directory (default: the time)")
    parser.add_argument(
        "--host", help="measure this already running app instead of starting servers"
    )
    parser.add_argument(
        "--allow-remote-host",
        action="store_true",
        help="allow --host to name a host other than loopback",
    )
    parser.add_argument(
        "--distributed",
        type=int,
        default=0,
        metavar="N",
        help="run Locust as a master with N local worker processes",
    )
    parser.add_argument(
        "--remote-workers",
        type=int,
        default=0,
        metavar="M",
        help="also wait for M Locust workers from other hosts (needs --master-bind-host, --host)",
    )
    parser.add_argument(
        "--master-bind-host",
        default="127.0.0.1",
        help="address the Locust master listens on (default: %(default)s)",
    )
    parser.add_argument("--master-port", type=int, help="default: a free port (5557 if remote)")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pin Locust and the upstream to the first CPU, the server to the others (default: on)",
    )
    parser.add_argument(
        "--prometheus",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run a Prometheus beside the sweep and add the dashboards' panels of every cell "
        "to the report (default: on when a prometheus binary is installed)",
    )
    # The capacity map (issue 12): open-model searches for each configuration's λ*.
    parser.add_argument(
        "--capacity",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after the cells, map the profile's configurations' capacity (open-model "
        "searches); default: on when the default or full profile's own matrix runs (no "
        "--cell, --servers, --workers, --scenarios or --host)",
    )
    parser.add_argument(
        "--capacity-only", action="store_true", help="map the capacity only; no closed-loop cells"
    )
    parser.add_argument("--capacity-time-limit", type=float, help="seconds for the capacity map")
    parser.add_argument(
        "--capacity-match",
        metavar="TEXT",
        help="map only the profile's configurations whose key (server/WORKERSxTHREADS/scenario"
        "[/poolN][/variant]) contains TEXT, a regular expression (re.search): 'db' picks the "
        "database paths, '^uvicorn/1x8/.*db.*/pool10$' three of them",
    )
    parser.add_argument(
        "--capacity-repeats",
        type=int,
        metavar="N",
        help="fresh searches (fresh servers, fresh seeds) per configuration mapped "
        "(default: the profile's)",
    )
    parser.add_argument(
        "--instrumentation",
        default=INSTRUMENTATION,
        metavar="LIST",
        help="the app's instrumentation stacks to map under, comma-separated (the contract "
        f"names none, lab, django-prometheus, opentelemetry; only {INSTRUMENTATION} is "
        "measured so far) (default: %(default)s)",
    )
    # The server's life (issue 14): in-flight cost and slow clients, short forms.
    parser.add_argument(
        "--server-life",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after the cells and the capacity map, measure what an in-flight request costs "
        "(the views and the database paths) and what slow clients do to normal users, on "
        "servers of its own (about 3 minutes); default: on in the "
        f"{', '.join(SERVER_LIFE_BY_DEFAULT)} profile without --host",
    )
    parser.add_argument(
        "--server-life-only",
        action="store_true",
        help="measure the server's life only; no closed-loop cells, no capacity map",
    )
    # The database paths side by side on one server (issue 13): loadtests.sweep.db_compare.
    parser.add_argument(
        "--db-compare",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after the cells, compare the three database paths on one uvicorn worker in "
        "alternating windows (paired, with CIs); default: on when the default or full "
        "profile's own matrix runs",
    )
    parser.add_argument("--locustfile", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--render-only",
        type=Path,
        metavar="DIR",
        help="render summary.md and report.html from DIR/results.json; run nothing",
    )
    args = parser.parse_args(argv)
    if args.server_life is None:
        args.server_life = args.profile in SERVER_LIFE_BY_DEFAULT and not args.host
    if args.capacity is None:
        picked = (
            args.cell
            or args.servers
            or args.workers
            or args.scenarios
            or args.host
            or args.server_life_only
        )
        args.capacity = not picked and args.profile in MAPPED_BY_DEFAULT
    if args.db_compare is None:
        picked = args.cell or args.servers or args.workers or args.scenarios or args.host
        only = args.capacity_only or args.server_life_only
        args.db_compare = not (picked or only) and args.profile in COMPARED_BY_DEFAULT
    problems = check_args(args)
    if problems:
        parser.error("; ".join(problems))
    return args


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_args(args: argparse.Namespace) -> list[str]:
    problems = []
    if args.host:
        if urllib.parse.urlsplit(args.host).scheme not in ("http", "https"):
            problems.append("--host must be an http(s) URL")
        elif not is_loopback(args.host) and not args.allow_remote_host:
            problems.append(
                f"--host {args.host} is not loopback; add --allow-remote-host to load it"
            )
    if args.remote_workers:
        if not args.host:
            problems.append(
                "--remote-workers needs --host: workers on other hosts cannot reach "
                "servers this sweep starts on loopback"
            )
        if is_loopback(f"http://{args.master_bind_host}"):
            problems.append("--remote-workers needs --master-bind-host (an address they reach)")
    for name in (
        "users",
        "repeats",
        "windows_per_run",
        "threads",
        "fanout",
        "distributed",
        "remote_workers",
    ):
        value = getattr(args, name)
        if value is not None and value < (0 if name in ("distributed", "remote_workers") else 1):
            problems.append(f"--{name.replace('_', '-')} must be positive")
    if args.server_life_only and args.host:
        problems.append("--server-life-only starts servers of its own: it cannot use --host")
    if args.db_pools and min(args.db_pools) < 1:
        problems.append("--db-pool-sizes must be positive")
    if not 0 < args.ready_timeout < float("inf"):
        problems.append("--ready-timeout must be positive")
    if args.capacity_match is not None:
        try:
            re.compile(args.capacity_match)
        except re.error as error:
            problems.append(f"--capacity-match is not a regular expression: {error}")
        else:
            if args.capacity_only and not matching(plans_for(args.profile), args.capacity_match):
                problems.append(
                    f"--capacity-match {args.capacity_match!r} matches no configuration of the "
                    f"{args.profile} profile (names are server/WORKERSxTHREADS/scenario"
                    "[/poolN][/variant], e.g. gunicorn-gthread/1x8/sync-api)"
                )
    if args.capacity_repeats is not None and args.capacity_repeats < 1:
        problems.append("--capacity-repeats must be positive")
    stacks = [s for s in re.split(r"[,\s]+", args.instrumentation or "") if s]
    if stacks != [INSTRUMENTATION]:
        problems.append(
            f"--instrumentation {args.instrumentation!r}: only {INSTRUMENTATION!r} (the lab's "
            "own metrics) is measured so far; the other stacks (none, django-prometheus, "
            "opentelemetry) come with a later issue"
        )
    for spec in args.cell:
        try:
            parse_cell(spec)
        except ValueError as error:
            problems.append(str(error))
    return problems
