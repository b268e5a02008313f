"""Measured windows inside a Locust run: the sweep's clock, loaded by the locustfile.

Idle unless ``--window-length`` is given (the sweep gives it; a person running the locustfile
never needs to). Then users start staggered (the sweep's spawn rate spreads them over one
service time, and each waits a random ``--window-jitter`` before its first request), the run
warms up until steady (the rule of ``loadtests.analysis.steady`` on sub-windows of
``--window-steady`` seconds, after at least ``--window-warmup`` seconds), measures
``--window-count`` back-to-back windows of ``--window-length`` seconds, writes them to
``--window-out`` as JSON (a ``loadtests.model.windows.WindowsFile``) and stops Locust.

At each window boundary the master (or the only process) tells every process to switch
windows and, in the same instant, reads the server's metric files (``--window-metrics-dir``,
or the directory the sweep writes into the ready flag) into a file beside the JSON
(``metrics_files``): no request to the loaded server, so its window and the client's cover
the same seconds. Without a directory (a host the sweep did not start) it scrapes
``--window-scrape`` instead, beside the load. Each process keeps its own requests, failures,
response times (a ``loadtests.model.latency.Latency``, merged exactly) and CPU time per window,
and each request's shares of the windows its time spans, which give the window's rate
(``window_recorder``); after the last edge each process waits for the requests in flight there
to end, and in distributed mode the master then asks the workers for theirs (``control``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import gevent
import msgspec
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from loadtests.analysis import steady
from loadtests.model.latency import Latency
from loadtests.model.windows import Boundary, NodeReport, RunTotals, WindowsFile
from loadtests.wait import wait_until
from mysite.shutdown import LONGEST_REQUEST

from . import metrics_files
from .control import Controller, write
from .window_recorder import Recorder

logger = logging.getLogger(__name__)

MARK = "window_mark"
# The last window waits this long at most for the requests in flight at its edge (the longest
# legitimate request, and a margin); the master waits for the workers' reports after that.
SETTLE_TIMEOUT = LONGEST_REQUEST + 2.0
REPORT_TIMEOUT = SETTLE_TIMEOUT + 15.0
SCRAPE_TIMEOUT = 30.0
READY_TIMEOUT = 60.0


recorder = Recorder()
_metrics_dir: list[Path] = []  # from --window-metrics-dir or the ready flag's content


@events.init_command_line_parser.add_listener
def _add_arguments(parser):
    for flag, kind, default, text in (
        ("--window-length", float, 0.0, "seconds per window; 0 (default) measures nothing"),
        ("--window-warmup", float, 0.0, "seconds from the end of spawning to the first window"),
        ("--window-count", int, 1, "back-to-back windows to measure"),
        ("--window-out", str, "", "where to write the windows as JSON"),
        ("--window-scrape", str, "", "a /metrics URL to scrape at every window boundary"),
        ("--window-ready", str, "", "a URL that must answer 200 before any user starts"),
        ("--window-steady", float, 0.0, "sub-window (s): warm up until steady; 0: fixed"),
        ("--window-jitter", float, 0.0, "seconds: each user waits up to this before starting"),
        ("--window-metrics-dir", str, "", "the server's multi-process metrics directory"),
    ):
        # Locust's own parser (not an argument group) understands include_in_web_ui.
        parser.add_argument(flag, type=kind, default=default, help=text, include_in_web_ui=False)


def _options(environment):
    options = environment.parsed_options
    return options if options is not None and getattr(options, "window_length", 0) > 0 else None


def start_jitter(environment) -> float:
    """Seconds a user waits before its first request, so users do not move in lockstep."""
    options = _options(environment)
    return random.uniform(0.0, options.window_jitter) if options is not None else 0.0


def _report(environment, _data: dict) -> dict:
    """A worker's windows, once the requests in flight at the last edge have ended."""
    _settle()
    return msgspec.to_builtins(recorder.report(environment.runner.client_id, "worker"))


@events.init.add_listener
def _on_init(environment, **_kwargs):
    runner = environment.runner
    if runner is None:
        return
    environment.events.request.add_listener(recorder.on_request)
    if isinstance(runner, WorkerRunner):
        runner.register_message(MARK, lambda msg, **_: recorder.mark(msg.data["index"]))


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    """Hold the spawning of users until the app is ready (the sweep starts both at once).

    ``--window-ready`` is an http(s) URL that must answer 200, or a ``file://`` URL that must
    exist (the sweep creates it once every worker of the server answers).
    """
    options = _options(environment)
    if options is None or not options.window_ready or isinstance(environment.runner, WorkerRunner):
        return
    url = options.window_ready
    if not wait_until(lambda: _ready(url), READY_TIMEOUT, 0.05, sleep=gevent.sleep):
        logger.error("%s was not ready in %g s; starting anyway", url, READY_TIMEOUT)
    if options.window_metrics_dir:
        _metrics_dir[:] = [Path(options.window_metrics_dir)]
    elif url.startswith("file://"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            text = Path(urllib.parse.urlsplit(url).path).read_text()
            _metrics_dir[:] = [Path(json.loads(text)["metrics_dir"])]


def _ready(url: str) -> bool:
    if url.startswith("file://"):
        return Path(urllib.parse.urlsplit(url).path).exists()
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200
    return False


def _settle() -> None:
    """Wait until the requests in flight at the last edge have ended (their shares)."""
    if not wait_until(recorder.settled, SETTLE_TIMEOUT, 0.01, sleep=gevent.sleep):
        logger.warning(
            "%d request(s) in flight at the last window's edge still open after %g s; "
            "their shares of it are missing",
            recorder.open_at_end,
            SETTLE_TIMEOUT,
        )


def _mark(runner, index: int | None) -> None:
    recorder.mark(index)  # the master's (or the only process's) own CPU and requests
    if isinstance(runner, MasterRunner):
        runner.send_message(MARK, {"index": index})


def _scrape(url: str, path: Path, boundary: dict) -> None:
    """Save one /metrics exposition; note in ``boundary`` how long the server took to answer."""
    started = time.time()
    try:
        with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT) as response:
            path.write_bytes(response.read())
        boundary["scrape_file"] = path.name
    except OSError as error:
        boundary["scrape_error"] = f"{type(error).__name__}: {error}"
    boundary["scrape_s"] = round(time.time() - started, 4)


def _probe(runner) -> tuple[float, int, dict]:
    total = runner.stats.total
    return time.monotonic(), total.num_requests, dict(total.response_times)


def _warm_up(runner, options) -> dict:
    """Wait the least warm-up, then until the steady rule holds (or its cap); say how long."""
    started = time.monotonic()
    gevent.sleep(options.window_warmup)
    sub, samples, ok = options.window_steady, [], None
    if sub > 0 and isinstance(runner, MasterRunner):
        # The master's stats arrive in the workers' reports every few seconds, too coarse
        # for sub-windows: a fixed warm-up as long as the rule's shortest, and no verdict.
        gevent.sleep(steady.STEADY_SUBWINDOWS * sub)
    elif sub > 0:
        last, ok = _probe(runner), False
        while not ok and time.monotonic() - started < steady.STEADY_CAP_S:
            gevent.sleep(sub)
            now = _probe(runner)
            times = Latency()
            for ms, count in (Counter(now[2]) - Counter(last[2])).items():  # this sub-window's
                times.record(ms, count)
            rate = round((now[1] - last[1]) / (now[0] - last[0]), 2)
            samples.append((rate, times.quantile(0.5)))
            last, ok = now, steady.is_steady(samples)
    warmup_s = round(time.monotonic() - started, 2) if sub > 0 else options.window_warmup
    return {"warmup_s": warmup_s, "steady": ok, "subwindows": samples}


def _boundaries(runner, options, out: Path | None) -> list[Boundary]:
    """Mark every edge on time, each with the server's side read there."""
    boundaries, scrapes = [], []
    first = time.monotonic()
    for index in range(options.window_count + 1):
        gevent.sleep(max(0.0, first + index * options.window_length - time.monotonic()))
        boundary: dict = {"unix": time.time()}
        edge = index if index < options.window_count else None
        path = out.with_name(f"{out.stem}-{index}.prom") if out is not None else None
        if _metrics_dir and path is not None:
            # The client's edge, then at once (no greenlet runs in between) the server's.
            _mark(runner, edge)
            metrics_files.snapshot(_metrics_dir[0], path, boundary)
        else:
            if options.window_scrape and path is not None:
                # Beside the load, not before the mark: a server that queues requests (a
                # blocked event loop, busy gunicorn threads) answers the scrape after its
                # queue, which in a steady state shifts both edges of the server's window by
                # the same delay.
                scrapes.append(gevent.spawn(_scrape, options.window_scrape, path, boundary))
            _mark(runner, edge)
        boundaries.append(boundary)
    gevent.joinall(scrapes, timeout=SCRAPE_TIMEOUT + 5)
    return [msgspec.convert(b, Boundary) for b in boundaries]


def _control(environment) -> None:
    runner, options = environment.runner, _options(environment)
    out = Path(options.window_out) if options.window_out else None
    spawned_at = time.time()
    warm = _warm_up(runner, options)
    boundaries = _boundaries(runner, options, out)
    _settle()
    role = "master" if isinstance(runner, MasterRunner) else "local"
    workers = controller.workers()
    answers = controller.gather("report", {worker: {} for worker in workers}, REPORT_TIMEOUT)
    total = runner.stats.total
    result = WindowsFile(
        **warm,
        users=runner.user_count,
        length_s=options.window_length,
        count=options.window_count,
        spawned_at=spawned_at,
        boundaries=boundaries,
        nodes=[recorder.report(role, role), *(msgspec.convert(a, NodeReport) for a in answers)],
        missing_reports=max(0, len(workers) - len(answers)),
        run_totals=RunTotals(requests=total.num_requests, failures=total.num_failures),
    )
    if out is not None:
        write(out, result)
    logger.info("measured %d window(s); stopping", options.window_count)
    runner.quit()


controller = Controller(
    "window", lambda environment: _options(environment) is not None, _control, _report
)
