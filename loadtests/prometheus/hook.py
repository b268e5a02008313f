"""The sweep's Prometheus: one throwaway server for the sweep, the dashboards' panels per cell.

``make bench`` turns this hook on when a ``prometheus`` binary is on PATH (``--no-prometheus``
turns it off; without the binary the sweep says so once and measures without it). It runs one
Prometheus (free port, temporary data, a scrape every second, no rules) for the whole sweep and,
for every measured cell, evaluates a few of the dashboards' panels (``dashboards.panels``, the
PromQL the Grafana dashboards use, through ``dashboards.query.evaluate_panels``) over each run's
warm-up and windows, a point at each run's end, ``$__rate_interval`` two scrape intervals (the
fewest that hold a rate's two samples: Grafana's four would reach into the warm-up of a run
whose windows last a few seconds). They land in ``results.json``'s ``panels``, one group per
cell, which the report draws as time series.

Every cell's servers listen on new ports, so Prometheus scrapes the fixed addresses of a relay
(``relay``) that reads the current cell's targets, each sample given the cell's own ``job``
(``$job`` and ``$locust_job`` of its panels). ``up{job="django"}`` is the relay's own health.
At the sweep's end, the hook waits until Prometheus holds what the last cell's targets said up
to its end (a read begun after the end, then a scrape), and evaluates every cell's panels.

No thread of its own: Prometheus is started from the sweep's thread, which outlives it (the
launcher asks Linux to stop a child when the thread that started it ends, ``PR_SET_PDEATHSIG``).
What it costs: ready in ~0.2 s; the first cell waits for Prometheus's first scrape (~5 s after
it starts, once); while the sweep measures, the hook only records targets and finished cells
(microseconds); at the end, one wait (~1 s) and ~0.1 s of queries a cell. Prometheus runs at a
lower priority (nice 10); its CPU time is in ``meta.prometheus``. Each target answers one
``/metrics`` a scrape.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from pathlib import Path

import httpx
import psutil

from dashboards.prometheus_server import (
    APP_JOB,
    INSTALL_HINT,
    LOCUST_JOB,
    UPSTREAM_JOB,
    PrometheusServer,
    ScrapeTarget,
    run_prometheus,
)
from dashboards.query import (
    PrometheusClient,
    PrometheusError,
    default_variables,
    evaluate_panels,
)
from loadtests.analysis.records import Cell, RunMeta
from loadtests.analysis.results import Results
from loadtests.scenarios import SCENARIOS
from loadtests.wait import wait_until
from mysite.launcher import LOOPBACK, free_port

from . import panels as seam
from .relay import ScrapeRelay

SCRAPE_INTERVAL = 1.0
# The panels drawn for every cell, and for the cells that call the upstream. A handful: each
# is a few series of one point a second, and results.json stays small.
PANEL_KEYS = ("throughput_compare", "latency_compare", "active_requests", "loop_lag_max")
UPSTREAM_PANEL_KEYS = ("upstream_latency",)
# Seconds of warm-up shown before a cell's first window, at most.
LEAD = 10.0
SCRAPE_WAIT = 10.0  # the longest wait for a scrape after the sweep's end
FIRST_SCRAPE_WAIT = 15.0  # and for Prometheus's first scrape
NICE = 10

JOBS = (APP_JOB, UPSTREAM_JOB, LOCUST_JOB)


def _wait_for_scrape_after(url: str, moment: float, timeout: float) -> bool:
    """Until the Prometheus at ``url`` holds a scrape of the app's address after ``moment``."""
    expr = f'max(timestamp(up{{job="{APP_JOB}"}}))'
    with PrometheusClient(url, timeout=5.0) as client:

        def scraped() -> bool:
            with contextlib.suppress(PrometheusError):  # not up yet, or gone: not scraped
                latest = client.query(expr)
                return bool(latest) and float(latest[0]["value"][1]) > moment
            return False

        return bool(wait_until(scraped, timeout))


class PrometheusHook:
    """A Prometheus beside the sweep, and the panels of every cell."""

    name = "prometheus"  # sweep.hooks.RunHooks: the run's notes name a failing hook

    def __init__(self) -> None:
        self.binary = shutil.which("prometheus")
        self.exporter_port: int | None = None
        self.relay: ScrapeRelay | None = None
        self.server: PrometheusServer | None = None  # None: not started, or failed to
        self.problems: list[str] = []
        self._stack = contextlib.ExitStack()
        # cell key -> its (app job, locust job) and when each of its runs' servers were up
        self._cells: dict[str, tuple[tuple[str, str], list[float]]] = {}
        self._seen: dict[str, int] = {}  # cell key -> times measured (a repeated --cell)
        self._done: list[tuple[Cell, list[float], tuple[str, str], list]] = []
        self._started = 0.0
        self._info: dict = {}

    def locust_env(self) -> dict[str, str]:
        """Locust's exporter on a free port, for the whole sweep: the relay reads it."""
        if not self.binary:
            return {}
        self.exporter_port = self.exporter_port or free_port()
        return {"LOCUST_EXPORTER_PORT": str(self.exporter_port)}

    def start(self, run_dir: Path, meta: RunMeta) -> None:
        """Start the relay and Prometheus (without waiting for its first scrape)."""
        if not self.binary:
            message = f"No time-series panels: {INSTALL_HINT}"
            print(message, file=sys.stderr, flush=True)
            meta.notes.append(message)
            meta.prometheus = {"status": "missing"}
            return
        self._started = time.monotonic()
        meta.prometheus = {"status": "starting", "scrape_interval_s": SCRAPE_INTERVAL}
        self.relay = ScrapeRelay(JOBS, interval=SCRAPE_INTERVAL)
        self._stack.callback(self.relay.close)
        targets = [
            ScrapeTarget(job, self.relay.address, f"/{job}/metrics", honor_labels=True)
            for job in JOBS
        ]
        try:
            self.server = self._stack.enter_context(
                run_prometheus(
                    targets,
                    scrape_interval=SCRAPE_INTERVAL,
                    rules=False,
                    ready_timeout=30.0,
                    log_dir=run_dir,
                )
            )
        except Exception as error:
            self.problems.append(f"No time-series panels: Prometheus did not start: {error}")
            return
        with contextlib.suppress(psutil.Error):
            psutil.Process(self.server.process.pid).nice(NICE)
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            info = httpx.get(f"{self.server.url}/api/v1/status/buildinfo", timeout=5).json()
            self._info["version"] = info["data"]["version"]

    def targets(self, run_dir: Path, cell: str, targets: dict[str, str]) -> None:
        """Point the relay at this cell's servers (every run of it, with fresh ports)."""
        if self.server is None:
            return
        if "startup_s" not in self._info:
            # Only the first cell waits: Prometheus applies its targets at its scrape
            # manager's first reload, ~5 s after it starts, and scrapes nothing before.
            if not _wait_for_scrape_after(self.server.url, 0.0, FIRST_SCRAPE_WAIT):
                self.problems.append(
                    f"Prometheus scraped nothing in the {FIRST_SCRAPE_WAIT:g} s after it started"
                )
            self._info["startup_s"] = round(time.monotonic() - self._started, 2)
        if cell not in self._cells:
            self._seen[cell] = self._seen.get(cell, 0) + 1
            suffix = f"#{self._seen[cell]}" if self._seen[cell] > 1 else ""
            self._cells[cell] = ((f"{APP_JOB}:{cell}{suffix}", f"{LOCUST_JOB}:{cell}{suffix}"), [])
        (app_job, locust_job), since = self._cells[cell]
        since.append(time.time())
        self.relay.point(APP_JOB, targets["app"], app_job)
        if "upstream" in targets:
            self.relay.point(UPSTREAM_JOB, targets["upstream"], f"{UPSTREAM_JOB}:{cell}")
        else:
            self.relay.clear(UPSTREAM_JOB)
        if self.exporter_port:
            self.relay.point(LOCUST_JOB, f"http://{LOOPBACK}:{self.exporter_port}", locust_job)

    def cell_done(self, run_dir: Path, cell: Cell) -> dict[str, str] | None:
        """Note the cell, whose panels ``finish`` evaluates; its jobs, for results.json."""
        jobs, since = self._cells.pop(seam.cell_key(cell), (None, []))
        spans = [[w.start, w.end] for w in cell.windows or []]
        if self.server is None or not since or not spans:
            return None  # not measured, or not on servers the sweep started
        self._done.append((cell, since, jobs, spans))
        return {"job": jobs[0], "locust_job": jobs[1]}

    def finish(self, run_dir: Path, results: Results) -> list[dict] | None:
        """Evaluate every cell's panels, stop Prometheus and the relay, hand the panels over."""
        if self.relay is None:
            return None
        panels: list[dict] = []
        if self.server is not None:
            started = time.monotonic()
            # Interrupted or failed: quick, what Prometheus holds now, without a last read.
            quick = results.meta.status in ("interrupted", "failed")
            ends = [seam.runs(spans)[-1][1] for *_, spans in self._done]
            if ends and not quick and not self._wait_for_data_until(max(ends)):
                self.problems.append(
                    f"Prometheus had not recorded the sweep's end {SCRAPE_WAIT:g} s after it"
                )
            waited = time.monotonic()
            for cell, since, jobs, spans in self._done:
                try:
                    panels += self._evaluate(cell, since, jobs, spans)
                except Exception as error:
                    self.problems.append(f"Prometheus panels of {seam.cell_key(cell)}: {error}")
            self._info["wait_s"] = round(waited - started, 3)
            self._info["query_s"] = round(time.monotonic() - waited, 3)
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(self.server.process.pid).cpu_times()
                self._info["cpu_s"] = round(times.user + times.system, 2)
        self._stack.close()
        results.meta.prometheus = {
            "status": "failed" if self.server is None else "done",
            **self._info,
            "scrape_interval_s": SCRAPE_INTERVAL,
            "cells": len(self._done),
            "panels": len(panels),
            "reads": self.relay.reads,
            "failed_reads": self.relay.failures,
            "read_s": round(self.relay.busy_s, 2),
            "definitions": seam.panel_definitions([*PANEL_KEYS, *UPSTREAM_PANEL_KEYS]),
        }
        results.meta.notes.extend(self.problems)
        return panels

    def _evaluate(self, cell: Cell, since: list[float], jobs: tuple[str, str], spans) -> list:
        """The cell's panels, each run on its own: from its warm-up to its last window's end,
        with a point at that end, so no point covers seconds of another cell's run."""
        stretches = seam.runs(spans)
        step = 1.0 if max(b - a for a, b in stretches) + LEAD <= 90 else 2.0
        keys = PANEL_KEYS
        if SCENARIOS.get(cell.scenario) and SCENARIOS[cell.scenario].uses_upstream:
            keys += UPSTREAM_PANEL_KEYS
        evaluations = [
            evaluate_panels(
                self.server.url,
                *seam.run_grid(
                    run, max([s for s in since if s <= run[0]] or since[:1]), LEAD, step
                ),
                step,
                variables=default_variables(job=jobs[0], locust_job=jobs[1]),
                keys=keys,
                timeout=10.0,
                rate_window=seam.rate_window(step, SCRAPE_INTERVAL),
            )
            for run in stretches
        ]
        return seam.seam_panels(evaluations, cell, spans)

    def _wait_for_data_until(self, moment: float) -> bool:
        """Until Prometheus holds everything the targets said up to ``moment``.

        That is: the relay has read the app and Locust again, starting after ``moment`` (so no
        slower read of theirs is still under way), and Prometheus has scraped it since.
        """
        deadline = time.monotonic() + self.relay.timeout + SCRAPE_WAIT
        ends = [
            wait_until(
                lambda job=job: self.relay.read_started_after(job, moment),
                deadline - time.monotonic(),
                0.05,
            )
            for job in (APP_JOB, LOCUST_JOB)
        ]
        if None in ends:
            return False
        return _wait_for_scrape_after(self.server.url, max(ends), SCRAPE_WAIT)
