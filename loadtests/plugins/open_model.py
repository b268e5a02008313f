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
by itself; ``--arrival-out`` writes every step (``loadtests.plugins.trace``) as JSON. In
distributed mode the master splits each step's rate evenly across its workers and merges their
latencies exactly (``control``: ``open_model_ask`` / ``open_model_answer`` messages).

The capacity search (``--capacity-slo-ms``; policy in ``search``, verdicts in ``steady``):
``--capacity-start`` (else ``CEILING_START_SHARE`` x ``--capacity-ceiling``, the slot ceiling
when the caller knows it, else ``--arrival-rate``), ``--capacity-calibrate`` seconds of a
low-rate calibration step first, ``--capacity-precision`` (the bracket's width to stop at),
``--capacity-growth``, ``--capacity-min-requests`` / ``--capacity-min-step`` (before a step may
be decided), ``--capacity-step-requests`` / ``--capacity-max-step`` (how long a step runs,
at most), ``--capacity-max-warmup``, ``--capacity-max-steps``, ``--capacity-edge-tests`` (each
edge's tests, at least; more while its pooled verdict is close, up to
``--capacity-max-edge-tests``). ``--arrival-seed`` is the base seed: step ``i`` draws its
arrivals from ``trace.step_seed(base, i)``. In distributed mode a step runs to its longest (only
a local search ends a step early on a clear failure).

The ``--arrival-out`` JSON (the seam the sweep reads)::

    {"rate", "process", "scenario", "workers",
     "steps": [{  # trace.StepTrace.summary's keys, and:
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

import functools
import logging
from pathlib import Path

import gevent
import gevent.event
from locust import User, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from . import search as policy
from .control import Controller, write
from .pacer import DRAIN_TIMEOUT, Pacer
from .search import Search, StepPlan, start_rate
from .trace import StepTrace, step_seed

logger = logging.getLogger(__name__)

STOP = "open_stop"
CONSTANT, POISSON = "constant", "poisson"
DEFAULT_USER_CLASS = "AsyncApiUser"
DEFAULT_MAX_IN_FLIGHT = 1000
RESULT_MARGIN = 15.0
STOPPED = "stopped by Locust before its end"  # a step's verdict when Locust's time limit cut it

# The options besides the rate and the process (none in the web UI): flag, the ``Search`` field
# it sets (None: used otherwise), type, default, help.
OPTIONS = (
    ("--connections", None, int, DEFAULT_MAX_IN_FLIGHT, "open model: connections per process"),
    ("--max-in-flight", None, int, DEFAULT_MAX_IN_FLIGHT, "open model: most in flight a process"),
    ("--arrival-out", None, str, "", "open model: write the steps as JSON here"),
    ("--arrival-seed", None, int, 1, "base seed of the Poisson schedules (one per step from it)"),
    ("--capacity-slo-ms", "slo_p99_ms", float, 0.0, "search for the capacity under this p99 (ms)"),
    ("--capacity-max", "max_rps", float, 100000.0, "capacity search: highest rate tried"),
    ("--capacity-start", None, float, 0.0, "capacity search: first rate (0: from the ceiling)"),
    ("--capacity-ceiling", None, float, 0.0, "capacity search: slot ceiling, if known (req/s)"),
    ("--capacity-calibrate", "calibration_s", float, policy.CALIBRATION_S, "calibration s"),
    ("--capacity-growth", "growth", float, 0.0, "capacity search: factor between steps (0: auto)"),
    ("--capacity-precision", "precision", float, policy.PRECISION, "bracket width to stop at"),
    ("--capacity-min-requests", "min_requests", int, policy.MIN_STEP_REQUESTS, "before a verdict"),
    ("--capacity-min-step", "min_step_s", float, policy.MIN_STEP_S, "judged s per step, least"),
    ("--capacity-step-requests", "step_requests", int, policy.STEP_REQUESTS, "judged per step"),
    ("--capacity-max-step", "max_step_s", float, policy.MAX_STEP_S, "judged s per step, most"),
    ("--capacity-max-warmup", "max_warmup_s", float, policy.MAX_WARMUP_S, "warm-up s, most"),
    ("--capacity-max-steps", "max_steps", int, policy.MAX_STEPS, "steps besides the calibration"),
    ("--capacity-edge-tests", "edge_tests", int, policy.TESTS_PER_EDGE, "tests of each edge"),
    ("--capacity-max-edge-tests", "max_edge_tests", int, policy.MAX_TESTS_PER_EDGE, "and most"),
)


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
    for flag, _, kind, default, text in OPTIONS:
        parser.add_argument(flag, type=kind, default=default, help=text, include_in_web_ui=False)


def _active(environment) -> bool:
    options = environment.parsed_options
    return options is not None and (getattr(options, "arrival_rate", 0) or 0) > 0


_pacer: list[Pacer] = []  # this process's, made on its first step
_stop_requested = gevent.event.Event()


def _get_pacer(environment) -> Pacer:
    if not _pacer:
        options = environment.parsed_options
        # The locustfile's scenario classes, as Locust loaded them (no import of the
        # locustfile, which imports this); the master names the one to run for its workers.
        user_class = environment.available_user_classes[
            getattr(options, "arrival_user", DEFAULT_USER_CLASS)
        ]
        poisson = options.arrival_process == POISSON
        _pacer.append(
            Pacer(environment, user_class, options.max_in_flight, poisson, options.connections)
        )
    return _pacer[0]


@events.init.add_listener
def _on_init(environment, runner=None, **_kwargs):
    if runner is None:
        return
    if isinstance(runner, WorkerRunner):
        runner.register_message(STOP, lambda msg, **_: _get_pacer(environment).stop_event.set())
        return
    classes = [c for c in environment.user_classes if c is not OpenModelUser]
    if _active(environment):
        # The open model: the pacer asks for the named scenario's path; Locust runs one idler.
        named = [c.__name__ for c in classes if hasattr(c, "scenario")]
        environment.user_classes = [OpenModelUser]
        # Travels to the workers with the options.
        environment.parsed_options.arrival_user = (
            named[0] if len(named) == 1 else DEFAULT_USER_CLASS
        )
    elif classes:
        environment.user_classes = classes


def _worker_step(environment, data: dict) -> dict:
    pacer = _get_pacer(environment)
    pacer.stop_event.clear()
    return pacer.run_step(data["rate"], data["duration"], data["seed"]).to_message()


def run_step(
    environment,
    index: int,
    rate: float,
    duration: float | None,
    seed: int,
    decide=None,
    first_check_s: float = 0.0,
) -> StepTrace:
    """One step at ``rate`` over every process: here, or split across the master's workers
    (each with a seed of its own from ``seed``; a distributed step runs its whole length)."""
    if not isinstance(environment.runner, MasterRunner):
        pacer = _get_pacer(environment)
        pacer.stop_event.clear()
        return pacer.run_step(rate, duration, seed, decide, first_check_s, policy.CHECK_EVERY_S)
    workers = controller.workers()
    share = rate / max(1, len(workers))
    asks = {
        worker: {"rate": share, "duration": duration, "seed": step_seed(seed, index, offset + 1)}
        for offset, worker in enumerate(workers)
    }
    limit = (duration or 10 * 86400) + DRAIN_TIMEOUT + RESULT_MARGIN
    traces = controller.gather(index, asks, limit, _stop_requested, DRAIN_TIMEOUT + RESULT_MARGIN)
    merged = StepTrace(seed=seed)
    for trace in traces:
        merged.merge(StepTrace.from_message(trace))
    return merged


def _search(options) -> Search:
    fields = {
        field: getattr(options, flag[2:].replace("-", "_")) for flag, field, *_ in OPTIONS if field
    }
    start = start_rate(options.arrival_rate, options.capacity_start, options.capacity_ceiling)
    return Search(**fields, start_rps=start, ceiling_rps=options.capacity_ceiling or None)


def _step(environment, index: int, search: Search | None, plan: StepPlan | None) -> dict:
    """One step as the out file holds it: its trace's summary, seed and the rate asked for, and
    in a search (``plan``) the verdict on its steady part."""
    options = environment.parsed_options
    rate, seed = plan.rate if plan else options.arrival_rate, step_seed(options.arrival_seed, index)
    if plan is None:  # a plain run: one step, until Locust stops
        trace = run_step(environment, index, rate, None, seed)
    else:
        decide = functools.partial(search.should_stop, plan)
        trace = run_step(environment, index, rate, plan.longest_s, seed, decide, plan.shortest_s)
    step = trace.summary() | {
        "seed": trace.seed,
        "target_rps": round(rate, 3),
        "generator_cpu_share": round(trace.generator_cpu_share, 4),
    }
    if plan is None:
        return step
    j = search.judge(plan, trace)
    # Cut short by Locust's end, a part of a step says nothing.
    verdict = STOPPED if _stop_requested.is_set() else search.record(plan, j)
    return step | {
        "latency_ms": j.latency,
        "send_latency_ms": j.send_latency,
        "stationary": j.stationary,
        "judgement": j.text,
        "p99_ci95": list(j.p99_ci95),
        "over_slo": j.over_slo,
        "generator_limited": j.generator_limited,
        "warmup_s": round(j.warmup_s, 3),
        "verdict": verdict,
    }


def _control(environment) -> None:
    _stop_requested.clear()  # a new start in the web UI, after a stop
    options, runner = environment.parsed_options, environment.runner
    search = _search(options) if options.capacity_slo_ms > 0 else None
    steps = [] if search else [_step(environment, 0, None, None)]
    while search and (plan := search.next_step()) is not None and not _stop_requested.is_set():
        steps.append(_step(environment, len(steps), search, plan))
        logger.info("open model: %s", _line(steps[-1]))
    output = {
        "rate": options.arrival_rate,
        "process": options.arrival_process,
        "scenario": options.arrival_user,
        "steps": steps,
        "workers": runner.worker_count if isinstance(runner, MasterRunner) else 0,
    }
    if search is None:
        logger.info("open model: %s", _line(steps[0]))
    else:
        if _stop_requested.is_set() and not search.stopped_because:
            search.stopped_because = "Locust stopped (its time limit) before the search ended"
        output["search"] = search.result()
    if options.arrival_out:
        write(Path(options.arrival_out), output)
    if search is not None:
        runner.quit()


def _line(step: dict) -> str:
    return (
        f"{step.get('verdict', 'step')}: offered {step['offered_rps']:g}/s, achieved "
        f"{step['achieved_rps']:g}/s, p99 {step['latency_ms'].p99} ms from the intended start "
        f"({step['send_latency_ms'].p99} ms from the send), {step['errors']} errors, "
        f"{step['late']} late, {step['dropped']} dropped, "
        f"generator lag p99 {step['generator_lag_p99_ms']} ms"
    )


controller = Controller("open_model", _active, _control, _worker_step)


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs):
    """A plain ``--arrival-rate`` run ends with Locust: stop pacing, keep what was measured."""
    if not _active(environment):
        return
    if _pacer:
        _pacer[0].stop_event.set()
    if isinstance(environment.runner, WorkerRunner):
        return
    _stop_requested.set()
    if isinstance(environment.runner, MasterRunner):
        environment.runner.send_message(STOP)
    # Wait for the controller's last step, unless the controller itself is stopping Locust.
    if controller.running and gevent.getcurrent() is not controller.greenlet:
        controller.greenlet.join(timeout=DRAIN_TIMEOUT + RESULT_MARGIN + 5)
