"""The sweep's commands (run, capacity, server-life, render) on one configuration, ``Config``:
each field's metadata says which commands take it, under which heading, with which help, and
argparse builds every command's options from that."""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import re
import sys
import types
import typing
import urllib.parse
from pathlib import Path

from loadtests.model.experiment import STACK_NAMES
from loadtests.observability.stacks import parse_stacks
from loadtests.project.servers import PROJECT_KINDS
from loadtests.scenarios import SCENARIOS
from mysite.launcher import SERVER_KINDS

from .capacity_plan import MAPPED_BY_DEFAULT, matching, plans_for
from .cell import SERVER_READY_TIMEOUT
from .db_compare import PLANS as COMPARED_BY_DEFAULT
from .plan import PROFILES, parse_cell
from .serverlife import RUN_BY_DEFAULT as SERVER_LIFE_BY_DEFAULT

RUN, CAPACITY, SERVER_LIFE, RENDER = "run", "capacity", "server-life", "render"
COMMANDS = {
    RUN: "the profile's cells (server kinds x worker counts x scenarios, closed loop), then its "
    "phases: the database paths side by side, the capacity map, the server's life (make bench)",
    CAPACITY: "the capacity map alone: each configuration's λ*, the highest arrival rate held "
    "within the SLO, by open-model searches (make capacity)",
    SERVER_LIFE: "the server's life alone: what an in-flight request costs, and what slow "
    "clients do to normal users, on servers of its own",
    RENDER: "summary.md and report.html from DIR/results.json; runs nothing",
}
OLD_SPELLINGS = {"--capacity-only": CAPACITY, "--server-life-only": SERVER_LIFE}
MEASURING = (RUN, CAPACITY, SERVER_LIFE)
_PICKED = "--cell, --servers, --workers, --scenarios or --host"

# The headings of each command's help, with the commands whose options they hold.
WHAT = ("what to measure", MEASURING)
CELLS = ("the cells (default: the profile's matrix)", (RUN,))
LOAD = ("the load and the servers (default: the profile's)", (RUN,))
PHASES = ("phases after the cells", (RUN, CAPACITY))
MAP = ("the capacity map (default: the profile's)", (RUN, CAPACITY))
PROJECT = ("a Django project of yours (docs/YOUR_APP.md): its routes' capacity map", (RUN,))
TOOLS = ("Locust, the servers and Prometheus", MEASURING)
REMOTE = ("Locust workers on other hosts", (RUN,))
OUTPUT = ("output", MEASURING)
RENDERED = ("the run", (RENDER,))


def option(section: tuple[str, tuple[str, ...]], help: str, default=None, **argparse_kw):
    """A field of ``Config`` and its option: the section it is shown under, its help, and what
    argparse needs beyond what its type says (``flag``, ``commands``: other than the section's)."""
    meta = {"section": section, "help": help, "argparse": argparse_kw}
    if isinstance(default, list):
        return dataclasses.field(default_factory=list, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


REPEATABLE = {"action": "append", "nargs": None}


@dataclasses.dataclass
class Config:
    """What one sweep does: the command and every option, typed; None: the profile's."""

    command: str = RUN
    profile: str = option(
        WHAT,
        "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values()),
        "default",
        choices=sorted(PROFILES),
    )
    servers: list[str] | None = option(
        CELLS, f"server kinds: {', '.join(SERVER_KINDS)}", choices=SERVER_KINDS
    )
    workers: list[int] | None = option(CELLS, "worker counts")
    scenarios: list[str] | None = option(
        CELLS, f"scenarios: {', '.join(SCENARIOS)}", choices=list(SCENARIOS)
    )
    cell: list[str] = option(
        CELLS,
        "measure just this cell (repeatable) instead of the matrix",
        [],
        **REPEATABLE,
        metavar="SERVER:WORKERS:SCENARIO",
    )
    db_pools: list[int] | None = option(
        CELLS,
        "DB_POOL_SIZE per worker of each database cell, one cell per size",
        flag="--db-pool-sizes",
    )
    host: str | None = option(
        CELLS, "measure this running app instead of starting servers", metavar="URL"
    )
    allow_remote_host: bool = option(
        CELLS, "allow --host to name a host other than loopback", False
    )
    users: int | None = option(LOAD, "concurrent Locust users")
    delay: float | None = option(LOAD, "seconds each view or upstream call waits")
    fanout: int | None = option(LOAD, "upstream calls per fan-out request")
    warmup: float | None = option(LOAD, "least seconds of warm-up per run")
    window: float | None = option(LOAD, "seconds per window", flag="--duration")
    repeats: int | None = option(
        LOAD, "fresh runs per cell (windows, with --no-restart-per-repeat)"
    )
    windows_per_run: int | None = option(LOAD, "measured windows per fresh run")
    restart_per_repeat: bool | None = option(LOAD, "a fresh server and Locust for every repeat")
    keep_alive: bool = option(
        LOAD,
        "users keep their connection (off: a new one per request, so the kernel spreads "
        "requests over the workers)",
        False,
    )
    time_limit: float | None = option(LOAD, "stop measuring cells after this many seconds")
    threads: int | None = option(
        LOAD, "threads per gunicorn gthread worker", commands=(RUN, SERVER_LIFE)
    )
    # The phases; None: as the command and the profile say (``__post_init__``).
    capacity: bool | None = option(
        PHASES,
        "map the profile's configurations' capacity (open-model searches for λ*) (default: "
        f"on in the {', '.join(MAPPED_BY_DEFAULT)} profile, unless {_PICKED})",
        commands=(RUN,),
    )
    db_compare: bool | None = option(
        PHASES,
        "compare the three database paths on one uvicorn worker in alternating windows "
        "(paired, with CIs) (default: on when run measures the "
        f"{', '.join(COMPARED_BY_DEFAULT)} profile's own matrix)",
    )
    server_life: bool | None = option(
        PHASES,
        "measure what an in-flight request costs and what slow clients do, on servers of its "
        f"own, about 3 minutes (default: on in the {', '.join(SERVER_LIFE_BY_DEFAULT)} profile "
        "without --host)",
    )
    capacity_match: str | None = option(
        MAP,
        "map only the configurations whose key (server/WORKERSxTHREADS/scenario[/poolN]"
        "[/variant]) contains TEXT, a regular expression: 'db' picks the database paths",
        metavar="TEXT",
    )
    capacity_repeats: int | None = option(MAP, "fresh searches per configuration mapped")
    capacity_time_limit: float | None = option(MAP, "seconds for the capacity map")
    instrumentation: str = option(  # comma-separated stacks ("": the profile's own plans)
        MAP,
        "map each configuration under each instrumentation stack named, comma-separated "
        f"({', '.join(STACK_NAMES)}; default: the profile's own, lab unless it says)",
        "",
        metavar="LIST",
    )
    app: Path | None = option(  # a Django project of the user's: its routes measured instead
        PROJECT,
        "measure this Django project (its directory) instead of the lab's views, under "
        f"{', '.join(PROJECT_KINDS)} (--servers picks among them; --workers, default 1)",
        metavar="DIR",
    )
    routes: Path | None = option(
        PROJECT, "its routes file (default: discovered from its URLconf)", metavar="FILE"
    )
    fixture: list[str] = option(
        PROJECT,
        "a fixture loaded into the copy of its database (repeatable)",
        [],
        **REPEATABLE,
        metavar="NAME",
    )
    slo_ms: float | None = option(
        PROJECT,
        "the p99 objective of every route, in ms (default: 2 x its service time + 20 ms, at "
        "least 100 ms)",
        metavar="MS",
    )
    distributed: int = option(TOOLS, "run Locust as a master with N local worker processes", 0)
    pin: bool = option(
        TOOLS, "pin Locust and the upstream to the first CPU, the server to the others", True
    )
    prometheus: bool = option(
        TOOLS,
        "run a Prometheus beside the sweep and add the dashboards' panels of every cell to the "
        "report (when a prometheus binary is installed)",
        True,
    )
    ready_timeout: float = option(
        TOOLS,
        "seconds a started server has to answer /healthz before its cell fails",
        SERVER_READY_TIMEOUT,
    )
    locustfile: Path | None = option(TOOLS, argparse.SUPPRESS)  # a test's
    remote_workers: int = option(
        REMOTE, "also wait for N Locust workers from other hosts (needs --host)", 0
    )
    master_bind_host: str = option(
        REMOTE, "address the Locust master listens on", "127.0.0.1", metavar="ADDRESS"
    )
    master_port: int | None = option(
        REMOTE, "the Locust master's port (default: a free one, 5557 if remote)"
    )
    out: Path = option(OUTPUT, "reports directory", Path("reports"), metavar="DIR")
    run_id: str | None = option(
        OUTPUT, "name of the run's directory (default: the time)", metavar="NAME"
    )
    run_dir: Path | None = option(RENDERED, "a run directory", flag="run_dir", metavar="DIR")

    def __post_init__(self) -> None:
        """The phases left to the profile: the database comparison and the capacity map when
        the profile's own matrix runs, the server's life unless --host; with --app, only the
        capacity map, of the project's routes."""
        if self.app is not None:
            self.capacity = True if self.capacity is None else self.capacity
            self.db_compare, self.server_life = bool(self.db_compare), bool(self.server_life)
        picked = bool(self.cell or self.servers or self.workers or self.scenarios or self.host)
        own = self.command == RUN and not picked
        if self.capacity is None:
            self.capacity = self.command == CAPACITY or (own and self.profile in MAPPED_BY_DEFAULT)
        if self.db_compare is None:
            self.db_compare = own and self.profile in COMPARED_BY_DEFAULT
        if self.server_life is None:
            by_profile = self.command == RUN and self.profile in SERVER_LIFE_BY_DEFAULT
            self.server_life = self.command == SERVER_LIFE or (by_profile and not self.host)

    @property
    def stacks(self) -> list[str] | None:
        """The instrumentation stacks to map each configuration under (None: the plans' own);
        an unknown name raises ValueError."""
        return parse_stacks(self.instrumentation) if self.instrumentation.strip() else None

    def problems(self) -> list[str]:
        """What is wrong with these options, each in words; empty when they may run."""
        problems = []
        if self.host and urllib.parse.urlsplit(self.host).scheme not in ("http", "https"):
            problems.append("--host must be an http(s) URL")
        elif self.host and not is_loopback(self.host) and not self.allow_remote_host:
            problems.append(
                f"--host {self.host} is not loopback; add --allow-remote-host to load it"
            )
        if self.remote_workers and not self.host:
            problems.append(
                "--remote-workers needs --host: workers on other hosts cannot reach "
                "servers this sweep starts on loopback"
            )
        if self.remote_workers and is_loopback(f"http://{self.master_bind_host}"):
            problems.append("--remote-workers needs --master-bind-host (an address they reach)")
        problems += self.project_problems()
        if not 0 < self.ready_timeout < float("inf"):
            problems.append("--ready-timeout must be positive")
        for spec in self.cell:
            try:
                parse_cell(spec)
            except ValueError as error:
                problems.append(str(error))
        if self.capacity_match is not None:
            try:
                re.compile(self.capacity_match)
            except re.error as error:
                problems.append(f"--capacity-match is not a regular expression: {error}")
            else:
                if self.command == CAPACITY and not matching(
                    plans_for(self.profile), self.capacity_match
                ):
                    problems.append(
                        f"--capacity-match {self.capacity_match!r} matches no configuration of "
                        f"the {self.profile} profile (names are server/WORKERSxTHREADS/scenario"
                        "[/poolN][/variant], e.g. gunicorn-gthread/1x8/sync-api)"
                    )
        if self.instrumentation.strip():
            try:
                parse_stacks(self.instrumentation)
            except ValueError as error:
                problems.append(f"--instrumentation: {error}")
        return problems

    def project_problems(self) -> list[str]:
        """What --app, --routes and --fixture cannot do together with the other options."""
        if self.app is None:
            named = [f for f in ("routes", "fixture", "slo_ms") if getattr(self, f)]
            return [f"--{f.replace('_', '-')} needs --app" for f in named]
        problems = [] if self.app.is_dir() else [f"--app {self.app}: not a directory"]
        if self.routes is not None and not self.routes.is_file():
            problems.append(f"--routes {self.routes}: not a file")
        other = sorted(set(self.servers or ()) - set(PROJECT_KINDS))
        if other:
            problems.append(
                f"--app: a project is served by {', '.join(PROJECT_KINDS)}, not {', '.join(other)}"
            )
        if self.host or self.cell or self.scenarios:
            problems.append(
                "--app measures the project's routes: not with --host, --cell, --scenarios"
            )
        return problems


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


OPTIONS = [f for f in dataclasses.fields(Config) if "section" in f.metadata]
HINTS = typing.get_type_hints(Config)


def default_of(field: dataclasses.Field):
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def _argparse_kw(field: dataclasses.Field) -> dict:
    """What argparse needs for the field: from its type and default, then its metadata."""
    kind, default, extra = HINTS[field.name], default_of(field), field.metadata["argparse"]
    if isinstance(kind, types.UnionType):  # X | None
        kind = typing.get_args(kind)[0]
    if kind is bool:  # a flag when off by default, else --X / --no-X
        toggle = "store_true" if default is False else argparse.BooleanOptionalAction
        return {"action": toggle} | extra
    nargs = "+" if typing.get_origin(kind) is list else None
    kind = typing.get_args(kind)[0] if nargs else kind
    metavar = {int: "N", float: "S"}.get(kind, "KIND" if nargs and "choices" in extra else None)
    if kind is int:  # a count: at least 1, or at least 0 where 0 is the default
        kind = _whole(0 if default == 0 else 1)
    return {"type": kind, "nargs": nargs, "metavar": metavar} | extra


def _whole(low: int) -> typing.Callable[[str], int]:
    def whole(text: str) -> int:
        if int(text) < low:
            raise argparse.ArgumentTypeError("must be positive" if low else "must not be negative")
        return int(text)

    return whole


def _help(help: str, default) -> str:
    if help == argparse.SUPPRESS or "(default" in help or default in (None, []):
        return help
    shown = ("on" if default else "off") if isinstance(default, bool) else default
    return f"{help} (default: {shown})"


def parser() -> argparse.ArgumentParser:
    """``python -m loadtests.sweep COMMAND``, each command with its own options from ``Config``."""
    top = argparse.ArgumentParser(
        prog="python -m loadtests.sweep",
        description="Measure Django's servers with Locust and write a report; without a "
        "command, run.",
        epilog="Results: reports/<run-id>/{results.json,summary.md,report.html}; reports/latest "
        "points at the newest run. Each command's options: python -m loadtests.sweep COMMAND -h",
    )
    commands = top.add_subparsers(
        dest="command", metavar="COMMAND", required=True, help="what to do (default: run)"
    )
    for command, summary in COMMANDS.items():
        sub = commands.add_parser(command, help=summary, description=summary)
        groups: dict[str, argparse._ArgumentGroup] = {}
        for field in OPTIONS:
            heading, takers = field.metadata["section"]
            kw = _argparse_kw(field)
            if command not in kw.pop("commands", takers):
                continue
            if heading not in groups:
                groups[heading] = sub.add_argument_group(heading)
            flag = kw.pop("flag", f"--{field.name.replace('_', '-')}")
            kw |= {"dest": field.name} if flag.startswith("-") else {}
            default = default_of(field)
            help = _help(field.metadata["help"], default)
            groups[heading].add_argument(flag, **kw, help=help, default=default)
    return top


def with_command(argv: list[str]) -> list[str]:
    """The command line with its command first: an old mode flag becomes its command, and a
    command line without one runs."""
    for index, arg in enumerate(argv):
        flag, _, value = arg.partition("=")
        if flag in OLD_SPELLINGS:
            return [OLD_SPELLINGS[flag], *argv[:index], *argv[index + 1 :]]
        if flag == "--render-only":
            return [RENDER, *([value] if value else []), *argv[:index], *argv[index + 1 :]]
    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help")):
        return argv
    return [RUN, *argv]


def parse_args(argv: list[str] | None) -> Config:
    """The configuration the command line asks for (exits with the reasons if it is refused)."""
    top = parser()
    args = vars(top.parse_args(with_command(list(sys.argv[1:] if argv is None else argv))))
    config = Config(**args)
    problems = config.problems()
    if problems:
        top.error("; ".join(problems))
    return config
