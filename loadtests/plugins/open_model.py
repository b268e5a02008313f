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
latencies exactly (``open_step`` / ``open_result`` messages).

The capacity search (``--capacity-slo-ms``; policy in ``search``, verdicts in ``steady``):
``--capacity-start`` (else ``CEILING_START_SHARE`` x ``--capacity-ceiling``, the slot ceiling
when the caller knows it, else ``--arrival-rate``), ``--capacity-calibrate`` seconds of a
low-rate calibration step first, ``--capacity-precision`` (the bracket's width to stop at),
``--capacity-growth``, ``--capacity-min-requests`` / ``--capacity-min-step`` (before a step may
be decided), ``--capacity-step-requests`` / ``--capacity-max-step`` (how long a step runs,
at most), ``--capacity-max-warmup``, ``--capacity-max-steps``, ``--capacity-edge-tests`` (each
edge's tests, at least; more while its pooled verdict is close). ``--arrival-seed`` is the base
seed: step ``i`` draws its arrivals from ``trace.step_seed(base, i)``. In distributed mode a
step runs to its longest (only a local search ends a step early on a clear failure).

The ``--arrival-out`` JSON (the seam the sweep reads)::

    {"rate", "process", "scenario", "workers",
     "steps": [{  # recording.StepRecording.summary's keys, and:
        "seed": int, "target_rps": float (asked for), "offered_rps": float (realised:
        arrivals / "duration_s"), "stationary": bool, "judgement": str (how it was judged,
        from measured values), "latency_ms" / "send_latency_ms": {p50, p95, p99} (from the
        intended start / the send, of the judged part), "p99_ci95": [lo, hi] ms
        (order-statistic interval; null where too few requests), "over_slo": int (judged
        requests over the SLO),
        "generator_cpu_share": float (0..1 of one core, this Locust's busiest process),
        "generator_limited": bool, "warmup_s": float (discarded at the start),
        "verdict": str ("held", "calibration", why it failed, or ``STOPPED``)}, ...],
     "search": {"lambda_star_rps": float|null, "bracket": [held|null, failed|null],
                "stopped_because": str, "lower_bound": bool, "steps": int, ...}}

``search`` (only for a capacity search) comes from this one search: λ* is its held edge, and
the bracket's rates are the realised offered rates of the edges' tests; ``held`` / ``failed``
repeat the bracket under their former names, beside ``slo_p99_ms``. No other keys: the
calibration's service time and the generator's CPU are its step's ``latency_ms`` and
``generator_cpu_share``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import gevent
import gevent.event
import msgspec
from locust import User, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from loadtests.model.latency import LatencyMs
from loadtests.wait import wait_until

from . import search as policy
from .pacer import DRAIN_TIMEOUT, Pacer
from .recording import StepRecording
from .search import Search, StepOutcome, StepPlan, start_rate
from .steady import Judgement
from .trace import StepTrace, step_seed

logger = logging.getLogger(__name__)

STEP, RESULT, STOP = "open_step", "open_result", "open_stop"
CONSTANT, POISSON = "constant", "poisson"
DEFAULT_USER_CLASS = "AsyncApiUser"
DEFAULT_MAX_IN_FLIGHT = 1000
RESULT_MARGIN = 15.0
STOPPED = "stopped by Locust before its end"  # a step's verdict when Locust's time limit cut it


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
        ("--arrival-seed", int, 1, "base seed of the Poisson schedules (one per step from it)"),
        ("--capacity-slo-ms", float, 0.0, "search for the capacity under this p99 (ms)"),
        ("--capacity-max", float, 100000.0, "capacity search: highest rate tried"),
        ("--capacity-start", float, 0.0, "capacity search: first rate (0: from the ceiling)"),
        ("--capacity-ceiling", float, 0.0, "capacity search: slot ceiling, if known (req/s)"),
        ("--capacity-calibrate", float, policy.CALIBRATION_S, "capacity search: calibration s"),
        ("--capacity-growth", float, 0.0, "capacity search: factor between steps (0: auto)"),
        ("--capacity-precision", float, policy.PRECISION, "capacity search: bracket width"),
        ("--capacity-min-requests", int, policy.MIN_STEP_REQUESTS, "before a verdict, per step"),
        ("--capacity-min-step", float, policy.MIN_STEP_S, "capacity search: judged s, least"),
        ("--capacity-step-requests", int, policy.STEP_REQUESTS, "judged requests per step"),
        ("--capacity-max-step", float, policy.MAX_STEP_S, "capacity search: judged s, most"),
        ("--capacity-max-warmup", float, policy.MAX_WARMUP_S, "capacity search: warm-up s"),
        ("--capacity-max-steps", int, policy.MAX_STEPS, "steps, at most, besides the calibration"),
        ("--capacity-edge-tests", int, policy.TESTS_PER_EDGE, "tests of each edge, at least"),
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
    """The locustfile's scenario user classes, as Locust loaded them (every class the file
    defines, whichever it was asked to run): no import of the locustfile, which imports this."""
    available = environment.available_user_classes or {}
    return {n: c for n, c in available.items() if hasattr(c, "scenario")}


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
            lambda msg, **_: _results.setdefault(msg.data["index"], []).append(msg.data),
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
    record, trace = pacer.run_step(data["rate"], data["duration"], data["seed"])
    message = {"record": msgspec.to_builtins(record), "trace": trace.to_message()}
    runner.send_message(RESULT, {"index": data["index"], **message})


def run_step(
    environment,
    index: int,
    rate: float,
    duration: float | None,
    seed: int,
    decide=None,
    first_check_s: float = 0.0,
) -> tuple[StepRecording, StepTrace]:
    """One step at ``rate`` over every process: here, or split across the master's workers
    (each with a seed of its own from ``seed``; a distributed step runs its whole length)."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        pacer = _get_pacer(environment)
        pacer.stop_event.clear()
        return pacer.run_step(rate, duration, seed, decide, first_check_s, policy.CHECK_EVERY_S)
    nodes = runner.clients.ready + runner.clients.spawning + runner.clients.running
    workers = max(1, len(nodes))
    for offset, client_id in enumerate(sorted(node.id for node in nodes)):
        message = {
            "index": index,
            "rate": rate / workers,
            "duration": duration,
            "seed": step_seed(seed, index, offset + 1),
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
    merged, trace = StepRecording(), StepTrace(seed=seed)
    for message in _results.pop(index, []):
        merged.merge(msgspec.convert(message["record"], StepRecording))
        trace.merge(StepTrace.from_message(message["trace"]))
    return merged, trace


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


def _search(options) -> Search:
    return Search(
        slo_p99_ms=options.capacity_slo_ms,
        start_rps=start_rate(
            options.arrival_rate, options.capacity_start, options.capacity_ceiling
        ),
        max_rps=options.capacity_max,
        growth=options.capacity_growth,
        precision=options.capacity_precision,
        min_requests=options.capacity_min_requests,
        min_step_s=options.capacity_min_step,
        max_step_s=options.capacity_max_step,
        step_requests=options.capacity_step_requests,
        max_warmup_s=options.capacity_max_warmup,
        max_steps=options.capacity_max_steps,
        edge_tests=options.capacity_edge_tests,
        ceiling_rps=options.capacity_ceiling or None,
        calibration_s=options.capacity_calibrate,
    )


def step_record(
    record: StepRecording, trace: StepTrace, target_rps: float, judgement: Judgement | None
) -> dict:
    """A step as the out file holds it: the recording's summary, the seed, the realised rate,
    and (in a search) the verdict on its steady part."""
    step = record.summary(trace.offered_rps) | {
        "seed": trace.seed,
        "target_rps": round(target_rps, 3),
        "generator_cpu_share": round(trace.generator_cpu_share, 4),
    }
    if judgement is None:
        return step
    j = judgement
    return step | {
        "latency_ms": LatencyMs(p50=j.p50_ms, p95=j.p95_ms, p99=j.p99_ms),
        "send_latency_ms": LatencyMs(p50=j.send_p50_ms, p95=j.send_p95_ms, p99=j.send_p99_ms),
        "stationary": j.stationary,
        "judgement": j.text,
        "p99_ci95": list(j.p99_ci95),
        "over_slo": j.over_slo,
        "generator_limited": j.generator_limited,
        "warmup_s": round(j.warmup_s, 3),
    }


def _search_step(environment, search: Search, plan: StepPlan, index: int) -> dict:
    seed = step_seed(environment.parsed_options.arrival_seed, index)
    duration = plan.longest_s
    record, trace = run_step(
        environment,
        index,
        plan.rate,
        duration,
        seed,
        decide=lambda so_far, now_s: search.should_stop(plan, so_far, now_s),
        first_check_s=plan.shortest_s,
    )
    judgement = search.judge(plan, trace)
    if _stop_requested.is_set():  # cut short by Locust's end: a part of a step says nothing
        return step_record(record, trace, plan.rate, judgement) | {"verdict": STOPPED}
    outcome = StepOutcome(trace.offered_rps, record.scheduled, record.error_count, judgement)
    verdict = search.record(plan, outcome)
    return step_record(record, trace, plan.rate, judgement) | {"verdict": verdict}


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
        search = _search(options)
        while (plan := search.next_step()) is not None and not _stop_requested.is_set():
            steps.append(_search_step(environment, search, plan, len(steps)))
            logger.info("open model: %s", _line(steps[-1]))
        if _stop_requested.is_set() and not search.stopped_because:
            search.stopped_because = "Locust stopped (its time limit) before the search ended"
        output["search"] = search.result()
    else:
        seed = step_seed(options.arrival_seed, 0)
        record, trace = run_step(environment, 0, options.arrival_rate, None, seed)
        steps.append(step_record(record, trace, options.arrival_rate, None))
        logger.info("open model: %s", _line(steps[0]))
    if options.arrival_out:
        out = Path(options.arrival_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".tmp").write_bytes(msgspec.json.encode(output))
        out.with_suffix(".tmp").replace(out)
    if options.capacity_slo_ms > 0:
        runner.quit()


def _line(step: dict) -> str:
    verdict = f"{step['verdict']}: " if "verdict" in step else ""
    return verdict + (
        f"offered {step['offered_rps']:g}/s, achieved {step['achieved_rps']:g}/s, "
        f"p99 {step['latency_ms'].p99} ms from the intended start "
        f"({step['send_latency_ms'].p99} ms from the "
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
