"""``make bench``: every server kind x worker count x scenario, measured, then reported.

    python -m loadtests.sweep                         # the default profile, ~5 min on 2 cores
    python -m loadtests.sweep --profile full          # more users, longer windows, fresh runs
    python -m loadtests.sweep --servers uvicorn --workers 1 2 --scenarios async-api sync-api
    python -m loadtests.sweep --cell gunicorn-gthread:4:sync-api --duration 10 --repeats 3
    python -m loadtests.sweep --distributed 2         # Locust master + 2 local worker processes
    python -m loadtests.sweep --render-only reports/latest

Each cell starts a fresh server through ``mysite.launcher`` (wiped metrics directory), the
light upstream for the fan-out scenarios, and Locust; warms up; measures back-to-back windows;
stops everything. ``reports/<run-id>/results.json`` is rewritten after every cell, and
``summary.md`` and ``report.html`` are rendered from it at the end, also after Ctrl-C or a
failure. Load goes to loopback only, unless ``--host`` names another host together with
``--allow-remote-host``; the whole sweep stops after the profile's time limit.

When a ``prometheus`` binary is installed, a throwaway Prometheus scrapes every cell's app,
upstream and Locust each second, and the report adds the dashboards' panels of every cell, as
Prometheus answers their PromQL (``prometheus_hook``; ``--no-prometheus`` turns it off).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import signal
import sys
import tempfile
import time
import traceback
import urllib.parse
from pathlib import Path

from mysite.launcher import SERVER_KINDS, ServerFailed, run_system_checks, server_environment

from . import cells, hooks, report, results
from .generator import Generator, GeneratorFailed
from .profiles import PROFILES
from .progress import Progress
from .scenarios import SCENARIOS

REPORTS = Path("reports")


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: stop the children, keep what was measured.

    Not an ``Exception``: a hook's or a cell's ``except Exception`` must not swallow it.
    """


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.sweep",
        description="Sweep server kinds x worker counts x scenarios with Locust; write a report.",
        epilog="Results: reports/<run-id>/{results.json,summary.md,report.html}; "
        "reports/latest points at the newest run.",
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default")
    parser.add_argument("--servers", nargs="+", choices=SERVER_KINDS, help="server kinds")
    parser.add_argument("--workers", nargs="+", type=int, help="worker counts")
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), help="scenarios")
    parser.add_argument(
        "--cell",
        action="append",
        default=[],
        metavar="SERVER:WORKERS:SCENARIO",
        help="measure just this cell (repeatable); replaces the profile's matrix",
    )
    parser.add_argument("--users", type=int, help="concurrent Locust users per cell")
    parser.add_argument("--delay", type=float, help="seconds each view or upstream call waits")
    parser.add_argument("--fanout", type=int, help="upstream calls per fan-out request")
    parser.add_argument("--threads", type=int, help="threads per gunicorn gthread worker")
    parser.add_argument("--warmup", type=float, help="least seconds of warm-up per run")
    parser.add_argument("--duration", type=float, dest="window", help="seconds per window")
    parser.add_argument("--repeats", type=int, help="measured windows per cell")
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
    parser.add_argument("--time-limit", type=float, help="stop the sweep after this many seconds")
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=cells.SERVER_READY_TIMEOUT,
        help="seconds a started server has to answer /healthz before its cell fails "
        "(default: %(default)g)",
    )
    parser.add_argument("--out", type=Path, default=REPORTS, help="reports directory")
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
    parser.add_argument("--master-bind-host", default="127.0.0.1")
    parser.add_argument("--master-port", type=int, help="default: a free port (5557 if remote)")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pin Locust and the upstream to the first CPU, the server to the others",
    )
    parser.add_argument(
        "--prometheus",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run a Prometheus beside the sweep and add the dashboards' panels of every cell "
        "to the report (default: on when a prometheus binary is installed)",
    )
    parser.add_argument("--hook", action="append", default=[], metavar="MODULE:FACTORY")
    parser.add_argument("--locustfile", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--render-only",
        type=Path,
        metavar="DIR",
        help="render summary.md and report.html from DIR/results.json; run nothing",
    )
    args = parser.parse_args(argv)
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
    for name in ("users", "repeats", "threads", "fanout", "distributed", "remote_workers"):
        value = getattr(args, name)
        if value is not None and value < (0 if name in ("distributed", "remote_workers") else 1):
            problems.append(f"--{name.replace('_', '-')} must be positive")
    if not 0 < args.ready_timeout < float("inf"):
        problems.append("--ready-timeout must be positive")
    for spec in args.cell:
        try:
            parse_cell(spec)
        except ValueError as error:
            problems.append(str(error))
    return problems


def parse_cell(spec: str) -> tuple[str, int, str]:
    parts = spec.split(":")
    if len(parts) != 3 or parts[0] not in SERVER_KINDS or parts[2] not in SCENARIOS:
        raise ValueError(
            f"--cell {spec!r}: expected SERVER:WORKERS:SCENARIO with SERVER in "
            f"{', '.join(SERVER_KINDS)} and SCENARIO in {', '.join(SCENARIOS)}"
        )
    try:
        workers = int(parts[1])
    except ValueError:
        raise ValueError(f"--cell {spec!r}: WORKERS must be a whole number") from None
    return parts[0], workers, parts[2]


def plan(args: argparse.Namespace):
    profile = (
        PROFILES[args.profile]
        .with_matrix(args.servers, args.workers, args.scenarios)
        .with_overrides(
            users=args.users,
            delay=args.delay,
            fanout=args.fanout,
            threads=args.threads,
            warmup=args.warmup,
            window=args.window,
            repeats=args.repeats,
            restart_per_repeat=args.restart_per_repeat,
            time_limit=args.time_limit,
        )
    )
    if args.host:
        triples = [(cells.EXTERNAL, 0, s) for s in dict.fromkeys(c[2] for c in profile.cells())]
    elif args.cell:
        triples = [parse_cell(spec) for spec in args.cell]
    else:
        triples = profile.cells()
    shared = {
        "users": profile.users,
        "delay": profile.delay,
        "fanout": profile.fanout,
        "threads": profile.threads,
        "warmup": profile.warmup,
        "window": profile.window,
        "repeats": profile.repeats,
        "restart_per_repeat": profile.restart_per_repeat,
        "new_connections": not args.keep_alive,
    }
    plans = [
        cells.CellPlan(server=server, workers=workers, scenario=scenario, **shared)
        for server, workers, scenario in triples
    ]
    return profile, plans


def pinning(enabled: bool) -> tuple[frozenset[int] | None, frozenset[int] | None, str]:
    """CPUs for the generator (and upstream), CPUs for the server, and what was done, in words."""
    cpus = sorted(os.sched_getaffinity(0))
    if not enabled or len(cpus) < 2:
        return None, None, "none: every process may run on any CPU"
    generator, server = frozenset(cpus[:1]), frozenset(cpus[1:])
    return (
        generator,
        server,
        f"Locust and the upstream on CPU {cpus[0]}; the server on CPU(s) "
        f"{', '.join(map(str, cpus[1:]))}",
    )


class Upstream:
    """The fan-out scenarios' upstream: started on first use, restarted if it died."""

    def __init__(self, stack: contextlib.ExitStack, cpus) -> None:
        self.stack, self.cpus = stack, cpus
        self.running = None

    def __call__(self):
        from .upstream_server import serve_upstream

        if self.running is None or self.running.process.poll() is not None:
            self.running = self.stack.enter_context(
                serve_upstream(cpus=set(self.cpus) if self.cpus else None)
            )
        return self.running


def builtin_hooks(args: argparse.Namespace) -> list[object]:
    """The Prometheus hook, unless turned off or measuring a host the sweep did not start."""
    if not args.prometheus or args.host:
        return []
    from .prometheus_hook import PrometheusHook

    return [PrometheusHook()]


def link_latest(out: Path, run_dir: Path) -> None:
    latest = out / "latest"
    tmp = out / f".latest-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, latest)


def _raise_interrupted(signum, _frame):
    # Once: a second Ctrl-C must not cut short the stopping that follows, or the sweep would
    # exit while a server still finishes its requests.
    for other in STOP_SIGNALS:
        signal.signal(other, _still_stopping)
    raise Interrupted(signal.Signals(signum).name)


# Ctrl-C, kill, and a closed terminal all stop the sweep the same clean way.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _still_stopping(signum, _frame):
    name = signal.Signals(signum).name
    print(f"{name} again: still stopping every child process", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render_only:
        paths = report.render(args.render_only)
        print("\n".join(str(p) for p in paths))
        return 0
    profile, plans = plan(args)
    if not args.host:
        # Once for the whole sweep, not at each of its server starts: bad settings stop it here.
        run_system_checks(server_environment(Path(tempfile.gettempdir())))
    run_id = args.run_id or time.strftime("%Y%m%d-%H%M%S")
    run_dir = args.out / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    link_latest(args.out, run_dir)
    results_path = run_dir / "results.json"

    extensions = hooks.Hooks(builtin_hooks(args) + hooks.load(args.hook))
    generator_cpus, server_cpus, pinned = pinning(args.pin and not args.host)
    gen = Generator(
        locustfile=args.locustfile or Generator.locustfile,
        local_workers=args.distributed,
        remote_workers=args.remote_workers,
        master_bind_host=args.master_bind_host,
        master_port=args.master_port or (5557 if args.remote_workers else None),
        cpus=generator_cpus,
        # The Locust exporter (if present) stays off unless a hook wants it.
        env={"LOCUST_EXPORTER_PORT": "0", **extensions.locust_env()},
    )
    started = time.time()
    meta = {
        "schema": results.SCHEMA,
        "run_id": run_id,
        "profile": profile.name,
        "parameters": profile.as_dict(),
        "connections": "keep-alive" if args.keep_alive else "new per request",
        "command": " ".join(["python -m loadtests.sweep", *(argv or sys.argv[1:])]),
        "started_at": results.now_iso(started),
        "ended_at": None,
        "status": "running",
        "machine": results.machine(),
        "versions": results.versions(),
        "git": results.git_state(),
        "pinning": pinned,
        "generator": {
            "mode": "distributed" if gen.distributed else "local",
            "local_workers": gen.local_workers,
            "remote_workers": gen.remote_workers,
        },
        "target": args.host or "servers started by the sweep on 127.0.0.1",
        "planned_cells": len(plans),
        "skipped_cells": [],
        "notes": [],
    }
    extensions.call("start", run_dir, meta)
    record = {"meta": meta, "cells": []}
    results.write(results_path, record)

    progress = Progress(plans)
    previous = {s: signal.signal(s, _raise_interrupted) for s in STOP_SIGNALS}
    status, code = "complete", 0
    try:
        with contextlib.ExitStack() as stack:
            ctx = cells.Context(
                run_dir=run_dir,
                generator=gen,
                server_cpus=server_cpus,
                upstream=Upstream(stack, generator_cpus),
                external_host=args.host,
                ready_timeout=args.ready_timeout,
                on_targets=lambda cell, targets: extensions.call("targets", run_dir, cell, targets),
            )
            stack.callback(ctx.settle)  # cells stopped in the background, on any way out
            deadline = time.monotonic() + profile.time_limit
            for index, cell_plan in enumerate(plans):
                if time.monotonic() + cell_plan.estimate(progress.start_cost) > deadline:
                    meta["skipped_cells"] = [p.key for p in plans[index:]]
                    meta["notes"].append(
                        f"time limit of {profile.time_limit:g} s reached: "
                        f"{len(plans) - index} cell(s) not measured"
                    )
                    status, code = "time-limit", 1
                    break
                progress.begin(cell_plan)
                try:
                    cell = cells.measure(cell_plan, ctx, progress.draw)
                except (ServerFailed, GeneratorFailed, OSError, ValueError) as error:
                    progress.note(f"{cell_plan.key} failed: {error}")
                    cell = cells.failed_cell(cell_plan, str(error))
                    code = 1
                progress.end(cell_plan)
                extra = {k: v for k, v in extensions.call("cell_done", run_dir, cell).items() if v}
                if extra:
                    cell["extensions"] = extra
                record["cells"].append(cell)
                results.write(results_path, record)
    except Interrupted as signal_name:
        status, code = "interrupted", 130
        progress.note(f"{signal_name}: stopped every child process; keeping what was measured")
    except Exception as error:
        status, code = "failed", 1
        meta["notes"].append(f"the sweep failed: {error!r}")
        progress.note(traceback.format_exc())
        progress.note("stopped every child process; keeping what was measured")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        progress.close()
        meta["status"] = status if code != 1 or status != "complete" else "complete-with-errors"
        meta["ended_at"] = results.now_iso()
        meta["duration_s"] = round(time.time() - started, 1)
        for panels in extensions.call("finish", run_dir, record).values():
            record.setdefault("panels", []).extend(panels or [])
        if extensions.errors:
            meta["notes"] += [f"hook failed: {e}" for e in extensions.errors]
        results.write(results_path, record)
        paths = report.render(run_dir)
    print((run_dir / "summary.md").read_text())
    print(f"Report: {paths[-1]}  ({meta['duration_s']:.0f} s, status {meta['status']})")
    return code


if __name__ == "__main__":
    sys.exit(main())
