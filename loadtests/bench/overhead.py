"""What the metrics middleware costs: hello-world throughput, side by side, in one run.

Three 1-worker uvicorn servers stay up together, pinned to one CPU, one per instrumentation
stack (``loadtests.observability.stacks``): ``none`` (metrics off), ``lab`` (this app's
middleware) and ``django-prometheus``. wrk, pinned to
another CPU so it never competes with the server it measures, drives them in short runs that
alternate between the stacks, the order rotating each round, so drift on a shared machine
hits every stack alike. Each run's rps is divided by the ``none`` rps of the same round
and endpoint; the report gives the median and the spread of those paired ratios.

Other load on a shared machine takes CPU from the servers, and their rps with it. The report
therefore also gives requests per CPU-second of the server (its capacity on a core of its own)
and the same paired ratios of that, flags runs where the server got too little CPU, and adds the
middleware's own CPU per request from the in-process ``loadtests.bench.middleware_cpu``.

    python -m loadtests.bench.overhead [--duration 5] [--rounds 5] [--connections 32] [--quick]
    python -m loadtests.bench.overhead --render reports/overhead/<stamp>.json

Measures, writes ``reports/overhead/<stamp>.json``, then renders a Markdown table from it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from loadtests.observability.stacks import STACKS, server_env
from loadtests.sweep.machine import git_state, now_iso, versions
from loadtests.sweep.sampler import tree_cpu_seconds
from mysite.launcher import serve

from .render import markdown

ROOT = Path(__file__).resolve().parents[2]
ENDPOINTS = {"sync": "/sync/api/?delay=0", "async": "/async/api/?delay=0"}
# The stacks compared: the baseline first (every ratio is to it), then the middleware whose
# cost the table quotes (the lab's), then the other library.
COMPARED = ("none", "lab", "django-prometheus")
BASELINE = COMPARED[0]
TARGET_COST = 0.03  # the budget: at most 3% of throughput
# wrk on one core above this share of it may be what limits the rate, not the server.
SATURATED_CPU = 0.9
# A server below this share of its core was held back by other load on the machine.
STARVED_CPU = 0.8


# --- measure -------------------------------------------------------------------------------


def ensure_wrk() -> str:
    if not shutil.which("wrk"):
        subprocess.run([str(ROOT / "scripts" / "ensure-system-packages"), "wrk=wrk"], check=True)
    return shutil.which("wrk") or sys.exit("wrk is not installed.")


def pick_cpus() -> tuple[set[int] | None, set[int] | None]:
    """One CPU for wrk, another for the servers; no pinning on a single-CPU machine."""
    cpus = sorted(os.sched_getaffinity(0))
    return ({cpus[0]}, {cpus[1]}) if len(cpus) >= 2 else (None, None)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(wrk: str, url: str, seconds: int, connections: int, cpus: set[int] | None) -> dict:
    """One wrk run; its CPU is read from the rusage of reaped children, which is only wrk."""
    argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", url]
    cpu_before, started = _children_cpu(), time.perf_counter()
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    wall = time.perf_counter() - started
    out = result.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    requests = re.search(r"(\d+) requests in", out)
    if not rps or not requests or int(requests.group(1)) == 0:
        raise RuntimeError(f"wrk measured nothing at {url}:\n{out}\n{result.stderr}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(rps.group(1)),
        "requests": int(requests.group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, re.findall(r"\d+", socket_errors.group(1))))
        if socket_errors
        else 0,
        "wrk_cpu": (_children_cpu() - cpu_before) / wall,
    }


def run_against(server, path: str, args: argparse.Namespace, wrk: str, cpus) -> dict:
    """One wrk run against one server, with the server's CPU share over the same time."""
    cpu_before, started = tree_cpu_seconds(server.pid), time.perf_counter()
    run = run_wrk(wrk, server.url + path, args.duration, args.connections, cpus)
    cpu_seconds = tree_cpu_seconds(server.pid) - cpu_before
    run["server_cpu"] = cpu_seconds / (time.perf_counter() - started)
    run["per_cpu_s"] = run["requests"] / cpu_seconds
    run["saturated"] = run["wrk_cpu"] >= SATURATED_CPU
    run["starved"] = run["server_cpu"] < STARVED_CPU
    return run


def measure(args: argparse.Namespace) -> dict:
    wrk = ensure_wrk()
    wrk_cpus, server_cpus = pick_cpus()
    started = time.time()
    runs = []
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(serve("uvicorn", 1, env=server_env(name), cpus=server_cpus))
            for name in COMPARED
        }
        for server in servers.values():
            for path in ENDPOINTS.values():
                if args.warmup:
                    run_wrk(wrk, server.url + path, args.warmup, args.connections, wrk_cpus)
        for round_no in range(args.rounds):
            # Rotate the order, so no stack always runs first (or right after another).
            shift = round_no % len(COMPARED)
            for endpoint, path in ENDPOINTS.items():
                for name in COMPARED[shift:] + COMPARED[:shift]:
                    run = run_against(servers[name], path, args, wrk, wrk_cpus)
                    runs.append({"round": round_no, "endpoint": endpoint, "variant": name, **run})
    return {
        "meta": _meta(started, wrk, wrk_cpus, server_cpus),
        "middleware_cpu_us": middleware_cpu(server_cpus),
        "config": {
            "server": "uvicorn",
            "workers": 1,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "connections": args.connections,
            "warmup_s": args.warmup,
            # Lists, so the table keeps this order after a round trip through sorted JSON.
            "endpoints": [{"name": name, "path": path} for name, path in ENDPOINTS.items()],
            "variants": [{"name": name, "label": STACKS[name].label} for name in COMPARED],
            "target_cost": TARGET_COST,
        },
        "runs": runs,
        "summary": summarize(runs),
    }


def middleware_cpu(cpus: set[int] | None) -> dict[str, float]:
    """The middleware's own CPU per request (``bench.middleware_cpu``), on the servers' CPU."""
    result = subprocess.run(
        [sys.executable, "-m", "loadtests.bench.middleware_cpu"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    return json.loads(result.stdout)


def _meta(started: float, wrk: str, wrk_cpus, server_cpus) -> dict:
    """The sweep's own record of the machine's software, and the libraries compared here."""
    wrk_version = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    compared = ("prometheus-client", "django-prometheus")
    return {
        "started": now_iso(started),
        "ended": now_iso(),
        "python": platform.python_version(),
        "versions": versions() | {p: importlib.metadata.version(p) for p in compared},
        "wrk": (wrk_version.stdout or wrk_version.stderr).split("[")[0].strip(),
        "git_commit": git_state().commit,
        "cpu_count": os.cpu_count(),
        "wrk_cpus": sorted(wrk_cpus) if wrk_cpus else None,
        "server_cpus": sorted(server_cpus) if server_cpus else None,
    }


# --- record --------------------------------------------------------------------------------


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(runs: list[dict]) -> dict:
    """Per endpoint and variant: medians, and ratios to the baseline run of the same round."""
    summary: dict[str, dict] = {}
    for endpoint in ENDPOINTS:
        baseline = {
            r["round"]: r for r in runs if r["endpoint"] == endpoint and r["variant"] == BASELINE
        }
        summary[endpoint] = {}
        for name in COMPARED:
            mine = [r for r in runs if r["endpoint"] == endpoint and r["variant"] == name]
            summary[endpoint][name] = {
                "rps": _spread([r["rps"] for r in mine]),
                "rps_ratio": _spread([r["rps"] / baseline[r["round"]]["rps"] for r in mine]),
                "per_cpu_s": _spread([r["per_cpu_s"] for r in mine]),
                "per_cpu_s_ratio": _spread(
                    [r["per_cpu_s"] / baseline[r["round"]]["per_cpu_s"] for r in mine]
                ),
                "wrk_cpu_max": max(r["wrk_cpu"] for r in mine),
                "server_cpu_median": statistics.median(r["server_cpu"] for r in mine),
                "errors": sum(r["non_2xx"] + r["socket_errors"] for r in mine),
                "saturated_runs": sum(r["saturated"] for r in mine),
                "starved_runs": sum(r["starved"] for r in mine),
            }
    return summary


def write(result: dict, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return path


# --- render --------------------------------------------------------------------------------


def render(result: dict) -> str:
    """The result as Markdown (``templates/overhead.md.j2``): the table, the cost, the flags."""
    flags = {
        "saturated_runs": f"wrk CPU >= {SATURATED_CPU:.0%}, it may have limited the rate",
        "starved_runs": f"server CPU < {STARVED_CPU:.0%}, other load on the machine held it back "
        "(the per CPU-s ratio is the steadier measure then)",
        "errors": "non-2xx responses or socket errors",
    }
    own_cpu = result["middleware_cpu_us"]
    return markdown("overhead.md.j2", **result, own_cpu=own_cpu, flags=flags)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench.overhead",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument  # every option shows its default (the formatter adds it)
    add("--duration", type=int, default=5, help="seconds per wrk run")
    add("--rounds", type=int, default=5, help="wrk runs per server and endpoint")
    add("--connections", type=int, default=32, help="wrk's open connections")
    add("--warmup", type=int, default=1, help="warm-up seconds per server and endpoint")
    add("--quick", action="store_true", help="one 1-second round, no warm-up (a smoke test)")
    add("--output-dir", type=Path, default=ROOT / "reports" / "overhead", help="result folder")
    add("--render", type=Path, metavar="JSON", help="only re-render this result")
    args = parser.parse_args(argv)
    if args.render:
        return print(render(json.loads(args.render.read_text())))
    if args.quick:
        args.duration, args.rounds, args.warmup = 1, 1, 0
    if args.duration < 1 or args.rounds < 1 or args.connections < 1 or args.warmup < 0:
        parser.error("--duration, --rounds and --connections must be at least 1, --warmup 0")
    result = measure(args)
    path = write(result, args.output_dir)
    print(render(result))
    print(f"\nWritten to {path}")


if __name__ == "__main__":
    main()
