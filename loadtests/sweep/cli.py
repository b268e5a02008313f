"""The sweep's commands (run, capacity, server-life, render) on one configuration, ``Config``:
``SECTIONS`` says which commands take each field, under which heading, with which help."""

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


@dataclasses.dataclass
class Config:
    """What one sweep does: the command and every option, typed; None: the profile's."""

    command: str = RUN
    profile: str = "default"
    servers: list[str] | None = None
    workers: list[int] | None = None
    scenarios: list[str] | None = None
    cell: list[str] = dataclasses.field(default_factory=list)
    db_pools: list[int] | None = None
    host: str | None = None
    allow_remote_host: bool = False
    users: int | None = None
    delay: float | None = None
    fanout: int | None = None
    warmup: float | None = None
    window: float | None = None
    repeats: int | None = None
    windows_per_run: int | None = None
    restart_per_repeat: bool | None = None
    keep_alive: bool = False
    time_limit: float | None = None
    threads: int | None = None
    db_compare: bool | None = None  # the phases, when None: as the command and profile say
    capacity: bool | None = None
    server_life: bool | None = None
    capacity_match: str | None = None
    capacity_repeats: int | None = None
    capacity_time_limit: float | None = None
    instrumentation: str = ""  # comma-separated stacks ("" : the profile's own plans)
    distributed: int = 0
    remote_workers: int = 0
    master_bind_host: str = "127.0.0.1"
    master_port: int | None = None
    pin: bool = True
    prometheus: bool = True
    ready_timeout: float = SERVER_READY_TIMEOUT
    locustfile: Path | None = None
    app: Path | None = None  # a Django project of the user's: its routes measured instead
    routes: Path | None = None
    fixture: list[str] = dataclasses.field(default_factory=list)
    slo_ms: float | None = None
    out: Path = Path("reports")
    run_id: str | None = None
    run_dir: Path | None = None

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


MEASURING = (RUN, CAPACITY, SERVER_LIFE)
_PICKED = "--cell, --servers, --workers, --scenarios or --host"
# Each command's options, under their headings: Config's field -> its help, or its help and
# what argparse needs beyond what the field's type says.
SECTIONS: dict[tuple[str, tuple[str, ...]], dict[str, str | tuple[str, dict]]] = {
    ("what to measure", MEASURING): {
        "profile": (
            "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values()),
            {"choices": sorted(PROFILES)},
        ),
    },
    ("the cells (default: the profile's matrix)", (RUN,)): {
        "servers": (f"server kinds: {', '.join(SERVER_KINDS)}", {"choices": SERVER_KINDS}),
        "workers": "worker counts",
        "scenarios": (f"scenarios: {', '.join(SCENARIOS)}", {"choices": list(SCENARIOS)}),
        "cell": (
            "measure just this cell (repeatable) instead of the matrix",
            {"action": "append", "nargs": None, "metavar": "SERVER:WORKERS:SCENARIO"},
        ),
        "db_pools": (
            "DB_POOL_SIZE per worker of each database cell, one cell per size",
            {"flag": "--db-pool-sizes"},
        ),
        "host": ("measure this running app instead of starting servers", {"metavar": "URL"}),
        "allow_remote_host": "allow --host to name a host other than loopback",
    },
    ("the load and the servers (default: the profile's)", (RUN,)): {
        "users": "concurrent Locust users",
        "delay": "seconds each view or upstream call waits",
        "fanout": "upstream calls per fan-out request",
        "warmup": "least seconds of warm-up per run",
        "window": ("seconds per window", {"flag": "--duration"}),
        "repeats": "fresh runs per cell (windows, with --no-restart-per-repeat)",
        "windows_per_run": "measured windows per fresh run",
        "restart_per_repeat": "a fresh server and Locust for every repeat",
        "keep_alive": "users keep their connection (off: a new one per request, so the kernel "
        "spreads requests over the workers)",
        "time_limit": "stop measuring cells after this many seconds",
        "threads": ("threads per gunicorn gthread worker", {"commands": (RUN, SERVER_LIFE)}),
    },
    ("phases after the cells", (RUN, CAPACITY)): {
        "capacity": (
            "map the profile's configurations' capacity (open-model searches for λ*) (default: "
            f"on in the {', '.join(MAPPED_BY_DEFAULT)} profile, unless {_PICKED})",
            {"commands": (RUN,)},
        ),
        "db_compare": "compare the three database paths on one uvicorn worker in alternating "
        "windows (paired, with CIs) (default: on when run measures the "
        f"{', '.join(COMPARED_BY_DEFAULT)} profile's own matrix)",
        "server_life": "measure what an in-flight request costs and what slow clients do, on "
        f"servers of its own, about 3 minutes (default: on in the "
        f"{', '.join(SERVER_LIFE_BY_DEFAULT)} profile without --host)",
    },
    ("the capacity map (default: the profile's)", (RUN, CAPACITY)): {
        "capacity_match": (
            "map only the configurations whose key (server/WORKERSxTHREADS/scenario[/poolN]"
            "[/variant]) contains TEXT, a regular expression: 'db' picks the database paths",
            {"metavar": "TEXT"},
        ),
        "capacity_repeats": "fresh searches per configuration mapped",
        "capacity_time_limit": "seconds for the capacity map",
        "instrumentation": (
            "map each configuration under each instrumentation stack named, comma-separated "
            f"({', '.join(STACK_NAMES)}; default: the profile's own, lab unless it says)",
            {"metavar": "LIST"},
        ),
    },
    ("a Django project of yours (docs/YOUR_APP.md): its routes' capacity map", (RUN,)): {
        "app": (
            "measure this Django project (its directory) instead of the lab's views, under "
            f"{', '.join(PROJECT_KINDS)} (--servers picks among them; --workers, default 1)",
            {"metavar": "DIR"},
        ),
        "routes": ("its routes file (default: discovered from its URLconf)", {"metavar": "FILE"}),
        "fixture": (
            "a fixture loaded into the copy of its database (repeatable)",
            {"action": "append", "nargs": None, "metavar": "NAME"},
        ),
        "slo_ms": (
            "the p99 objective of every route, in ms (default: 2 x its service time + 20 ms, at "
            "least 100 ms)",
            {"metavar": "MS"},
        ),
    },
    ("Locust, the servers and Prometheus", MEASURING): {
        "distributed": "run Locust as a master with N local worker processes",
        "pin": "pin Locust and the upstream to the first CPU, the server to the others",
        "prometheus": "run a Prometheus beside the sweep and add the dashboards' panels of every "
        "cell to the report (when a prometheus binary is installed)",
        "ready_timeout": "seconds a started server has to answer /healthz before its cell fails",
        "locustfile": argparse.SUPPRESS,
    },
    ("Locust workers on other hosts", (RUN,)): {
        "remote_workers": "also wait for N Locust workers from other hosts (needs --host)",
        "master_bind_host": ("address the Locust master listens on", {"metavar": "ADDRESS"}),
        "master_port": "the Locust master's port (default: a free one, 5557 if remote)",
    },
    ("output", MEASURING): {
        "out": ("reports directory", {"metavar": "DIR"}),
        "run_id": ("name of the run's directory (default: the time)", {"metavar": "NAME"}),
    },
    ("the run", (RENDER,)): {"run_dir": ("a run directory", {"flag": "run_dir", "metavar": "DIR"})},
}
HINTS = typing.get_type_hints(Config)
DEFAULTS = {  # as the fields declare them (the phases' None: left to the command and profile)
    f.name: f.default_factory() if f.default is dataclasses.MISSING else f.default
    for f in dataclasses.fields(Config)
}


def _argparse_kw(name: str, extra: dict) -> dict:
    """What argparse needs for the field: from its type, then ``extra``."""
    kind = HINTS[name]
    if isinstance(kind, types.UnionType):  # X | None
        kind = typing.get_args(kind)[0]
    if kind is bool:  # a flag when off by default, else --X / --no-X
        toggle = "store_true" if DEFAULTS[name] is False else argparse.BooleanOptionalAction
        return {"action": toggle} | extra
    nargs = "+" if typing.get_origin(kind) is list else None
    kind = typing.get_args(kind)[0] if nargs else kind
    metavar = {int: "N", float: "S"}.get(kind, "KIND" if nargs and "choices" in extra else None)
    if kind is int:  # a count: at least 1, or at least 0 where 0 is the default
        kind = _whole(0 if DEFAULTS[name] == 0 else 1)
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
        for (heading, takers), fields in SECTIONS.items():
            group = None
            for name, spec in fields.items():
                help, extra = (spec, {}) if isinstance(spec, str) else spec
                kw = _argparse_kw(name, extra)
                if command not in kw.pop("commands", takers):
                    continue
                group = group or sub.add_argument_group(heading)
                flag = kw.pop("flag", f"--{name.replace('_', '-')}")
                kw |= {"dest": name} if flag.startswith("-") else {}
                help = _help(help, DEFAULTS[name])
                group.add_argument(flag, **kw, help=help, default=DEFAULTS[name])
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
