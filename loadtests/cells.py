"""One cell of a sweep: a server kind, a worker count and a scenario, measured end to end.

For each run of a cell: pick a port, start Locust (which waits for the app to answer before any
user starts) while the launcher starts a fresh server with a wiped metrics directory, sample
the server's and the upstream's processes, let ``locust_window`` warm up and measure its
windows (scraping ``/metrics`` at each boundary), then stop everything. ``assemble`` turns the
windows, scrapes and samples into the cell that ``results.json`` holds.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mysite.launcher import LOOPBACK, free_port, serve

from . import generator, scrape
from .generator import Generator, LoadRun
from .sampler import TreeSampler, pin_tree
from .scenarios import DEFAULT_POOL, SCENARIOS, Scenario

GENERATOR_SATURATED = 90.0  # % of one core
SERVER_CPU_BOUND = 85.0  # % of each core the server may use
UPSTREAM_BUSY = 50.0  # % of one core: the single-process upstream would be half-way to its limit
UPSTREAM_TIMEOUT = 10.0
SERVER_READY_TIMEOUT = 60.0  # the first worker answers /healthz within this, or the cell fails
WORKERS_READY_TIMEOUT = 20.0
EXTERNAL = "external"  # the server kind of cells measured on --host


@dataclass(frozen=True)
class CellPlan:
    server: str
    workers: int
    scenario: str
    users: int
    delay: float
    fanout: int
    threads: int
    warmup: float
    window: float
    repeats: int
    restart_per_repeat: bool = False
    new_connections: bool = True

    @property
    def key(self) -> str:
        return f"{self.server}/{self.workers}/{self.scenario}"

    @property
    def slug(self) -> str:
        return f"{self.server}-{self.workers}w-{self.scenario}"

    @property
    def spec(self) -> Scenario:
        return SCENARIOS[self.scenario]

    def model(self) -> tuple[float, str]:
        if self.server == EXTERNAL:
            rps = self.spec.littles_law_rps(self.users, self.delay, self.fanout)
            return rps, "Little's law only: the server is not the sweep's"
        return self.spec.model(
            self.server,
            self.workers,
            self.threads,
            self.users,
            self.delay,
            self.fanout,
            DEFAULT_POOL,
        )

    def warmup_for(self) -> float:
        """Warm up at least one expected latency, so queues are full before measuring."""
        model_rps, _ = self.model()
        expected_latency = self.users / model_rps
        longest = max(4 * self.warmup, 6.0)
        return round(min(max(self.warmup, expected_latency + 1.0), longest, 15.0), 2)

    def runs(self) -> list[int]:
        """Windows per Locust run."""
        return [1] * self.repeats if self.restart_per_repeat else [self.repeats]

    def estimate(self, start_cost: float) -> float:
        """Seconds this cell should take, given what one server and Locust start costs."""
        return sum(start_cost + self.warmup_for() + n * self.window for n in self.runs())


@dataclass
class Context:
    """What every cell of a sweep shares."""

    run_dir: Path
    generator: Generator
    server_cpus: frozenset[int] | None = None
    upstream: Callable[[], object] | None = None  # returns a running upstream (lazily started)
    external_host: str | None = None  # measure this URL instead of starting servers
    ready_timeout: float = SERVER_READY_TIMEOUT
    on_targets: Callable[[str, dict[str, str]], object] | None = None  # servers are up
    stopping: list[threading.Thread] = field(default_factory=list)

    def stop_later(self, stack: contextlib.ExitStack) -> None:
        """Stop a measured cell's processes in the background, while the next cell starts.

        A server's graceful shutdown waits for requests still queued when the load stopped
        (seconds, for a gthread worker behind a queue); nothing is measured meanwhile.
        """
        thread = threading.Thread(target=stack.close, name="stop-cell")
        thread.start()
        self.stopping.append(thread)

    def settle(self) -> None:
        """Wait until every cell stopped in the background is stopped."""
        while self.stopping:
            self.stopping.pop().join()


def server_env(plan: CellPlan, upstream_url: str | None) -> dict[str, str]:
    service = plan.spec.service_time(plan.delay, plan.fanout)
    times = {service, plan.delay} if plan.spec.uses_upstream else {service}
    env = {
        "METRICS_BUCKETS": ",".join(f"{b:g}" for b in scrape.buckets_for(*sorted(times))),
        "UPSTREAM_POOL_SIZE": str(DEFAULT_POOL),
        "UPSTREAM_TIMEOUT": f"{UPSTREAM_TIMEOUT:g}",
        "MYSITE_LOG_LEVEL": "WARNING",
    }
    if upstream_url:
        env["UPSTREAM_URL"] = upstream_url
    return env | dict(plan.spec.server_env)


def measure(plan: CellPlan, ctx: Context, tick: Callable[[], None]) -> dict:
    """Run the cell's load and return the assembled cell (raises on a failed run)."""
    cell_dir = ctx.run_dir / "cells" / plan.slug
    cell_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    runs = []
    for run_index, count in enumerate(plan.runs()):
        out = cell_dir / f"run{run_index + 1}.json"
        if ctx.external_host:
            runs.append(_measure_external(plan, ctx, out, count, tick))
        else:
            runs.append(_measure_local(plan, ctx, out, count, tick))
    cores = len(ctx.server_cpus) if ctx.server_cpus else len(os.sched_getaffinity(0))
    cell = assemble(plan, runs, cell_dir, None if ctx.external_host else cores)
    cell["started_at"], cell["ended_at"] = started, time.time()
    (cell_dir / "cell.json").write_text(json.dumps(cell, indent=2))
    return cell


def _load_run(plan: CellPlan, host: str, out: Path, count: int, ready_url: str) -> LoadRun:
    return LoadRun(
        host=host,
        user_class=plan.spec.user_class,
        users=plan.users,
        delay=plan.delay,
        fanout=plan.fanout,
        warmup=plan.warmup_for(),
        window=plan.window,
        count=count,
        out=out,
        scrape_url=f"{host}/metrics",
        ready_url=ready_url,
        new_connections=plan.new_connections,
    )


def wait_for_workers(url: str, workers: int, timeout: float = WORKERS_READY_TIMEOUT) -> int:
    """Ask /healthz (a new connection each time) until ``workers`` distinct pids answered.

    The launcher is ready when one worker answers; the others may still be importing Django,
    and a load that started then would find fewer workers than the cell says.
    """
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < workers and time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError, ValueError),
            urllib.request.urlopen(f"{url}/healthz", timeout=2) as response,
        ):
            seen.add(json.load(response)["pid"])
    return len(seen)


def _measure_local(plan, ctx: Context, out: Path, count: int, tick) -> dict:
    upstream = ctx.upstream() if plan.spec.uses_upstream and ctx.upstream else None
    upstream_url = f"{upstream.url}/api/" if upstream is not None else None
    port = free_port()
    host = f"http://{LOOPBACK}:{port}"
    ready_flag = out.with_suffix(".ready")
    ready_flag.unlink(missing_ok=True)
    run = _load_run(plan, host, out, count, ready_flag.resolve().as_uri())
    # Locust starts while the server boots; it holds its users until the ready flag exists.
    with contextlib.ExitStack() as stack:
        master = stack.enter_context(generator.started(ctx.generator, run, out.parent))
        server = stack.enter_context(
            serve(
                plan.server,
                plan.workers,
                port=port,
                threads=plan.threads,
                env=server_env(plan, upstream_url),
                log_dir=out.parent,
                system_checks=False,  # the sweep ran them once, before its first cell
                ready_timeout=ctx.ready_timeout,
            )
        )
        # The server boots on every CPU, then is pinned to its own for the measurement.
        ready_workers = wait_for_workers(server.url, plan.workers)
        if ctx.server_cpus:
            pin_tree(server.pid, ctx.server_cpus)
        roots, targets = {"server": server.pid}, {"app": server.url}
        if upstream is not None:
            roots["upstream"], targets["upstream"] = upstream.pid, upstream.url
        if ctx.on_targets:
            ctx.on_targets(plan.key, targets)
        ctx.settle()  # the previous cell's servers are gone before this one's load starts
        with TreeSampler(roots) as sampler:
            ready_flag.touch()
            windows = generator.wait(master, run, out.parent, tick)
        ctx.stop_later(stack.pop_all())
    return {"windows": windows, "sampler": sampler, "dir": out.parent, "workers": ready_workers}


def _measure_external(plan, ctx: Context, out: Path, count: int, tick) -> dict:
    run = _load_run(plan, ctx.external_host.rstrip("/"), out, count, ready_url="")
    with generator.started(ctx.generator, run, out.parent) as master:
        windows = generator.wait(master, run, out.parent, tick)
    return {"windows": windows, "sampler": None, "dir": out.parent}


# --- from windows to a cell -----------------------------------------------------------------


def percentiles(times: Counter) -> dict[str, float] | None:
    """Nearest-rank percentiles, mean and max of response times in ms."""
    n = sum(times.values())
    if n == 0:
        return None
    ordered = sorted(times.items())
    result: dict[str, float] = {}
    for key, q in scrape.QUANTILES.items():
        rank, seen = max(1, math.ceil(q * n)), 0
        for value, count in ordered:
            seen += count
            if seen >= rank:
                result[key] = value
                break
    result["mean"] = round(sum(v * c for v, c in ordered) / n, 2)
    result["max"] = ordered[-1][0]
    return result


def _scrape_families(run_dir: Path, boundary: dict) -> dict | None:
    name = boundary.get("scrape_file")
    if not name:
        return None
    return scrape.parse((run_dir / name).read_text())


def _windows(plan: CellPlan, run: dict) -> list[dict]:
    data, sampler = run["windows"], run["sampler"]
    boundaries = data["boundaries"]
    families = [_scrape_families(run["dir"], b) for b in boundaries]
    out = []
    for index in range(data["count"]):
        start, end = boundaries[index]["unix"], boundaries[index + 1]["unix"]
        times: Counter = Counter()
        requests = failures = 0
        errors: Counter = Counter()
        generator_cpu = []
        for node in data["nodes"]:
            for window in node["windows"]:
                if window["index"] != index:
                    continue
                if window.get("cpu_percent") is not None:
                    generator_cpu.append(
                        {"node": node["node"], "cpu_percent": round(window["cpu_percent"], 1)}
                    )
                for entry in window["entries"].values():
                    requests += entry["requests"]
                    failures += entry["failures"]
                    times.update({float(v): c for v, c in entry["response_times_ms"]})
                    errors.update(dict(entry["errors"]))
        server_hist = upstream_hist = None
        if families[index] is not None and families[index + 1] is not None:
            server_hist = scrape.route_histogram(
                families[index + 1], plan.spec.path
            ) - scrape.route_histogram(families[index], plan.spec.path)
            upstream_hist = scrape.upstream_histogram(
                families[index + 1]
            ) - scrape.upstream_histogram(families[index])
        out.append(
            {
                "start": start,
                "end": end,
                "duration_s": round(end - start, 3),
                # How long the server kept each edge's scrape waiting (its queue, roughly).
                "scrape_s": [
                    boundaries[index].get("scrape_s"),
                    boundaries[index + 1].get("scrape_s"),
                ],
                "requests": requests,
                "failures": failures,
                "rps": round(requests / (end - start), 2),
                "latency_ms": percentiles(times),
                "errors": errors.most_common(5),
                "generator_cpu": generator_cpu,
                "server_process": sampler.window("server", start, end) if sampler else None,
                "upstream_process": sampler.window("upstream", start, end) if sampler else None,
                "_times": times,
                "_server_hist": server_hist,
                "_upstream_hist": upstream_hist,
            }
        )
    return out


def _mean(values):
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 1) if values else None


def _sum_hist(hists):
    hists = [h for h in hists if h is not None]
    if not hists:
        return None
    total = hists[0]
    for h in hists[1:]:
        total = total + h
    return total


def assemble(plan: CellPlan, runs: list[dict], cell_dir: Path, cores: int | None) -> dict:
    """The cell for results.json: pooled percentiles, mean rates with their spread, ceilings."""
    windows = [w for run in runs for w in _windows(plan, run)]
    times: Counter = Counter()
    for w in windows:
        times.update(w["_times"])
    server_hist = _sum_hist(w["_server_hist"] for w in windows)
    upstream_hist = _sum_hist(w["_upstream_hist"] for w in windows)
    rates = [w["rps"] for w in windows]
    rps = round(statistics.fmean(rates), 2) if rates else 0.0
    latency = percentiles(times)
    littles = plan.spec.littles_law_rps(plan.users, plan.delay, plan.fanout)
    model_rps, model_text = plan.model()
    generator_cpu = max(
        (g["cpu_percent"] for w in windows for g in w["generator_cpu"]), default=None
    )
    server_cpu = _mean((w["server_process"] or {}).get("cpu_percent") for w in windows)
    upstream_cpu = _mean((w["upstream_process"] or {}).get("cpu_percent") for w in windows)

    def peak(key, field):
        return max(((w[key] or {}).get(field) or 0 for w in windows), default=None) or None

    requests = sum(w["requests"] for w in windows)
    failures = sum(w["failures"] for w in windows)
    errors: Counter = Counter()
    for w in windows:
        errors.update(dict(w["errors"]))
    flags = []
    if failures:
        flags.append("failures")
    if generator_cpu is not None and generator_cpu > GENERATOR_SATURATED:
        flags.append("generator-saturated")
    if server_cpu is not None and cores and server_cpu > SERVER_CPU_BOUND * cores:
        flags.append("server-cpu-bound")
    if upstream_cpu is not None and upstream_cpu > UPSTREAM_BUSY:
        flags.append("upstream-busy")
    if server_hist is None:
        flags.append("no-server-histogram")
    if requests == 0:
        flags.append("no-requests")
    workers_ready = min((run["workers"] for run in runs if "workers" in run), default=None)
    if workers_ready is not None and workers_ready < plan.workers:
        flags.append("workers-not-ready")
    cell = {
        "server": plan.server,
        "workers": plan.workers,
        "scenario": plan.scenario,
        "threads": plan.threads,
        "users": plan.users,
        "delay_s": plan.delay,
        "fanout": plan.fanout if plan.spec.uses_upstream else None,
        "service_time_s": plan.spec.service_time(plan.delay, plan.fanout),
        "warmup_s": plan.warmup_for(),
        "window_s": plan.window,
        "repeats": len(windows),
        "restart_per_repeat": plan.restart_per_repeat,
        "connections": "new per request" if plan.new_connections else "keep-alive",
        "workers_ready": workers_ready,
        "requests": requests,
        "failures": failures,
        "rps": rps,
        "rps_min": min(rates, default=None),
        "rps_max": max(rates, default=None),
        "rps_stdev": round(statistics.stdev(rates), 2) if len(rates) > 1 else None,
        "latency_ms": latency,
        "server_latency_ms": server_hist.percentiles_ms() if server_hist else None,
        "server_requests": round(server_hist.count) if server_hist else None,
        "server_statuses": (
            {k: round(v) for k, v in server_hist.count_by_status.items() if v}
            if server_hist
            else None
        ),
        "littles_law_rps": round(littles, 2),
        "efficiency": round(rps / littles, 3) if littles else None,
        "model_rps": round(model_rps, 2),
        "model": model_text,
        "model_efficiency": round(rps / model_rps, 3) if model_rps else None,
        # Little's law, L = lambda x W: how many requests were in flight on average. Below the
        # number of users, the users spent time outside a request: the generator lagged.
        "achieved_concurrency": (
            round(rps * latency["mean"] / 1000.0, 2) if latency and rps else None
        ),
        "server_process": {
            "cores": cores,
            "cpu_percent": server_cpu,
            "rss_mb": peak("server_process", "rss_mb"),
            "threads": peak("server_process", "threads"),
            "processes": peak("server_process", "processes"),
        },
        "generator": {"cpu_percent": generator_cpu, "processes": _generator_processes(runs)},
        "upstream": (
            {
                "cpu_percent": upstream_cpu,
                "calls": round(upstream_hist.count) if upstream_hist else None,
                "call_latency_ms": upstream_hist.percentiles_ms() if upstream_hist else None,
                "call_statuses": (
                    {k: round(v) for k, v in upstream_hist.count_by_status.items() if v}
                    if upstream_hist
                    else None
                ),
            }
            if plan.spec.uses_upstream
            else None
        ),
        "errors": errors.most_common(5),
        "flags": flags,
        "windows": [
            {k: v for k, v in w.items() if not k.startswith("_")} | _window_server(w)
            for w in windows
        ],
        "dir": str(cell_dir.relative_to(cell_dir.parent.parent)),
    }
    return cell


def _window_server(window: dict) -> dict:
    hist = window["_server_hist"]
    return {
        "server_latency_ms": hist.percentiles_ms() if hist else None,
        "server_requests": round(hist.count) if hist else None,
    }


def _generator_processes(runs: list[dict]) -> int:
    return max((len(run["windows"]["nodes"]) for run in runs), default=0)


def failed_cell(plan: CellPlan, error: str) -> dict:
    """A cell that could not be measured: it still appears, with the reason."""
    return {
        **{k: v for k, v in asdict(plan).items() if k in ("server", "workers", "scenario")},
        "users": plan.users,
        "threads": plan.threads,
        "requests": 0,
        "failures": 0,
        "rps": None,
        "latency_ms": None,
        "server_latency_ms": None,
        "littles_law_rps": round(plan.spec.littles_law_rps(plan.users, plan.delay, plan.fanout), 2),
        "efficiency": None,
        "flags": ["error"],
        "error": error,
    }
