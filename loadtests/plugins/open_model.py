"""The open model inside Locust: requests start on a schedule, whether or not earlier ones finished.

``--arrival-rate R`` replaces the closed-loop users with a pacer per Locust process: arrivals
``R`` per second (``--arrival-process constant`` or ``poisson``), each started in a greenlet of
its own at its scheduled instant, up to ``--max-in-flight`` at once; an arrival beyond that bound
is counted as dropped (and reported to Locust as a failure), one started more than ``LATE_MS``
after its instant as late. Latency is counted from the scheduled instant, so a server's queue
shows even when the generator never waits for it (no coordinated omission); the latency from the
actual send is kept beside it. Locust's own statistics show the intended-start latency.

The scenario is the one user class named on the command line (default ``AsyncApiUser``), whose
``ask()`` (path, parameters, body checks) each arrival runs::

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 --headless -t 30s \
        --arrival-rate 50 --delay 0.2 SyncApiUser

With ``--capacity-slo-ms`` the run is a capacity search (``loadtests.plugins.search``) and ends
by itself; ``--arrival-out`` writes every step (``loadtests.plugins.recording``) as JSON. In
distributed mode the master splits each step's rate evenly across its workers and merges their
HDR histograms exactly (``open_step`` / ``open_result`` messages).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import gevent
import gevent.event
from locust import User, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from loadtests.wait import wait_until

from .pacer import DRAIN_TIMEOUT, Pacer
from .recording import StepRecording
from .search import MIN_STEP_REQUESTS, MIN_STEP_S, Search

logger = logging.getLogger(__name__)

STEP, RESULT, STOP = "open_step", "open_result", "open_stop"
CONSTANT, POISSON = "constant", "poisson"
DEFAULT_USER_CLASS = "AsyncApiUser"
DEFAULT_MAX_IN_FLIGHT = 1000
RESULT_MARGIN = 15.0


class OpenModelUser(User):
    """Stands in for the closed-loop users under ``--arrival-rate``: the pacer does the asking."""

    wait_time = constant(3600)

    @task
    def idle(self):
        """Nothing: requests come from the pacer, on schedule."""


@events.init_command_line_parser.add_listener
def _add_arguments(parser):
    parser.add_argument(
        "--arrival-rate",
        type=float,
        default=0.0,
        help="open model: requests started per second (0: closed loop)",
    )
    parser.add_argument(
        "--arrival-process",
        choices=(CONSTANT, POISSON),
        default=POISSON,
        help="inter-arrival times: constant, or exponential (Poisson arrivals)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=DEFAULT_MAX_IN_FLIGHT,
        help="open model: connections per Locust process (requests beyond wait for one)",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=DEFAULT_MAX_IN_FLIGHT,
        help="open model: requests in flight per Locust process, at most",
    )
    for flag, kind, default, text in (
        ("--arrival-out", str, "", "open model: write the steps as JSON here"),
        ("--arrival-seed", int, 1, "seed of the Poisson schedule"),
        ("--capacity-slo-ms", float, 0.0, "search for the capacity under this p99 (ms)"),
        ("--capacity-max", float, 100000.0, "capacity search: highest rate tried"),
        ("--capacity-growth", float, 2.0, "capacity search: factor between rising steps"),
        ("--capacity-precision", float, 0.1, "capacity search: bracket width to stop at"),
        ("--capacity-min-requests", int, MIN_STEP_REQUESTS, "capacity search: per step"),
        ("--capacity-min-step", float, MIN_STEP_S, "capacity search: seconds per step, least"),
        ("--capacity-max-steps", int, 12, "capacity search: steps, at most"),
    ):
        parser.add_argument(flag, type=kind, default=default, help=text, include_in_web_ui=False)


def _rate(environment) -> float:
    options = environment.parsed_options
    return float(getattr(options, "arrival_rate", 0) or 0) if options is not None else 0.0


_pacer: Pacer | None = None
_env: list = [None]  # the environment, from init (spawning_complete does not pass it)
_chosen: dict[str, type] = {}
_results: dict[int, list[dict]] = {}


def _get_pacer(environment) -> Pacer:
    global _pacer
    if _pacer is None:
        options = environment.parsed_options
        name = _chosen.get("name") or getattr(options, "arrival_user", "") or DEFAULT_USER_CLASS
        user_class = _lab_classes(environment)[name]
        poisson = options.arrival_process == POISSON
        _pacer = Pacer(
            environment, user_class, options.max_in_flight, poisson, int(options.connections)
        )
    return _pacer


def _lab_classes(environment) -> dict[str, type]:
    import loadtests.locustfile as lab  # the scenarios' user classes

    return {n: c for n, c in vars(lab).items() if isinstance(c, type) and hasattr(c, "scenario")}


@events.init.add_listener
def _on_init(environment, runner=None, **_kwargs):
    _env[0] = environment
    if runner is None:
        return
    if isinstance(runner, WorkerRunner):
        runner.register_message(STEP, lambda msg, **_: gevent.spawn(_worker_step, runner, msg.data))
        runner.register_message(STOP, lambda msg, **_: _get_pacer(environment).stop_event.set())
        return
    if isinstance(runner, MasterRunner):
        runner.register_message(
            RESULT,
            lambda msg, **_: _results.setdefault(msg.data["index"], []).append(msg.data["record"]),
        )
    classes = [c for c in environment.user_classes if c is not OpenModelUser]
    if _rate(environment) > 0:
        # The open model: the pacer asks for the named scenario's path; Locust runs one idler.
        named = [c.__name__ for c in classes if hasattr(c, "scenario")]
        _chosen["name"] = named[0] if len(named) == 1 else DEFAULT_USER_CLASS
        environment.user_classes = [OpenModelUser]
        environment.parsed_options.arrival_user = _chosen["name"]  # travels to the workers
    elif classes:
        environment.user_classes = classes


def _worker_step(runner, data: dict) -> None:
    pacer = _get_pacer(runner.environment)
    pacer.stop_event.clear()
    record = pacer.run_step(data["rate"], data["duration"], data["seed"])
    runner.send_message(RESULT, {"index": data["index"], "record": record.to_message()})


def run_step(environment, index: int, rate: float, duration: float | None) -> StepRecording:
    """One step at ``rate`` over every process: here, or split across the master's workers."""
    runner = environment.runner
    seed = environment.parsed_options.arrival_seed * 1000 + index
    if not isinstance(runner, MasterRunner):
        pacer = _get_pacer(environment)
        pacer.stop_event.clear()
        return pacer.run_step(rate, duration, seed)
    nodes = runner.clients.ready + runner.clients.spawning + runner.clients.running
    workers = max(1, len(nodes))
    for offset, client_id in enumerate(sorted(node.id for node in nodes)):
        message = {
            "index": index,
            "rate": rate / workers,
            "duration": duration,
            "seed": seed + 100 * offset,
        }
        runner.send_message(STEP, message, client_id=client_id)
    limit = (duration or 10 * 86400) + DRAIN_TIMEOUT + RESULT_MARGIN
    wait_until(
        lambda: len(_results.get(index, [])) >= workers or _stop_requested.is_set(),
        limit,
        0.05,
        sleep=gevent.sleep,
    )
    if _stop_requested.is_set():
        wait_until(
            lambda: len(_results.get(index, [])) >= workers,
            DRAIN_TIMEOUT + RESULT_MARGIN,
            0.05,
            sleep=gevent.sleep,
        )
    merged = StepRecording()
    for message in _results.pop(index, []):
        merged.merge(StepRecording.from_message(message))
    return merged


_stop_requested = gevent.event.Event()
_controller: list[gevent.Greenlet] = []


@events.spawning_complete.add_listener
def _on_spawning_complete(**_kwargs):
    environment = _env[0]
    if environment is None or _rate(environment) <= 0:
        return
    if isinstance(environment.runner, WorkerRunner) or any(not g.dead for g in _controller):
        return  # one controller at a time (spawning completes again when users are changed)
    _stop_requested.clear()  # a new start in the web UI, after a stop
    _controller[:] = [gevent.spawn(_control, environment)]
    _controller[0].link_exception(lambda g: _failed(environment, g.exception))


def _failed(environment, error) -> None:
    logger.error("open model failed: %r", error)
    environment.process_exit_code = 1
    environment.runner.quit()


def _control(environment) -> None:
    options = environment.parsed_options
    steps: list[dict] = []
    output = {
        "rate": options.arrival_rate,
        "process": options.arrival_process,
        "scenario": _chosen.get("name"),
        "steps": steps,
    }
    runner = environment.runner
    output["workers"] = runner.worker_count if isinstance(runner, MasterRunner) else 0
    if options.capacity_slo_ms > 0:
        search = Search(
            slo_p99_ms=options.capacity_slo_ms,
            start_rps=options.arrival_rate,
            max_rps=options.capacity_max,
            growth=options.capacity_growth,
            precision=options.capacity_precision,
            min_requests=options.capacity_min_requests,
            min_step_s=options.capacity_min_step,
            max_steps=options.capacity_max_steps,
        )
        while (rate := search.next_rate()) is not None and not _stop_requested.is_set():
            step = run_step(environment, len(steps), rate, search.step_seconds(rate)).summary(rate)
            step["verdict"] = search.record(rate, step)
            steps.append(step)
            logger.info("open model: %s", _line(step))
        output["search"] = {
            "slo_p99_ms": search.slo_p99_ms,
            "held": search.held,
            "failed": search.failed,
            "stopped_because": search.stopped_because,
        }
    else:
        steps.append(
            run_step(environment, 0, options.arrival_rate, None).summary(options.arrival_rate)
        )
        logger.info("open model: %s", _line(steps[0]))
    if options.arrival_out:
        out = Path(options.arrival_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".tmp").write_text(json.dumps(output))
        out.with_suffix(".tmp").replace(out)
    if options.capacity_slo_ms > 0:
        runner.quit()


def _line(step: dict) -> str:
    latency = step["latency_ms"]
    return (
        f"offered {step['offered_rps']:g}/s, achieved {step['achieved_rps']:g}/s, "
        f"p99 {latency['p99']} ms from the intended start ({latency['send_p99']} ms from the "
        f"send), {step['errors']} errors, {step['late']} late, {step['dropped']} dropped, "
        f"generator lag p99 {step['generator_lag_p99_ms']} ms"
    )


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs):
    """A plain ``--arrival-rate`` run ends with Locust: stop pacing, keep what was measured."""
    if _rate(environment) <= 0:
        return
    if isinstance(environment.runner, WorkerRunner):
        if _pacer is not None:
            _pacer.stop_event.set()
        return
    _stop_requested.set()
    if _pacer is not None:
        _pacer.stop_event.set()
    if isinstance(environment.runner, MasterRunner):
        environment.runner.send_message(STOP)
    # Wait for the controller's last step, unless the controller itself is stopping Locust.
    if _controller and gevent.getcurrent() is not _controller[0]:
        _controller[0].join(timeout=DRAIN_TIMEOUT + RESULT_MARGIN + 5)
