"""The capacity map's plans: what each profile maps, and the command line that picks it."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from loadtests.analysis import results
from loadtests.analysis.lambda_star import REPEATS
from loadtests.model.experiment import UPSTREAM_POOL_SIZE
from loadtests.observability.stacks import DEFAULT_STACK, STACK_NAMES
from loadtests.plugins.search import MAX_TESTS_PER_EDGE, least_hold_s
from loadtests.sweep import phase
from loadtests.sweep.capacity import experiments, locust_argv
from loadtests.sweep.capacity_plan import (
    DEFAULT_REPEATS,
    HEADLINE_DELAY_S,
    STEPS_EXPECTED,
    TIME_LIMITS,
    matching,
    plans_for,
    under_stacks,
)
from loadtests.sweep.capacity_steps import arrival_seed
from loadtests.sweep.cell import server_env
from loadtests.sweep.cli import parse_args
from loadtests.sweep.generator import Generator
from tests.loadtests.conftest import STORED_RESULTS


def test_the_default_maps_the_headline_configurations_as_far_as_its_time_goes():
    plans = plans_for("default")
    keys = [p.key for p in plans]
    assert keys == [
        "gunicorn-gthread/1x8/sync-api",  # slot-bound: its λ* is checked against M/D/c
        "uvicorn/1x8/sync-api",  # gthread against uvicorn
        "uvicorn/1x8/async-api",  # async against sync under uvicorn x 1
        "gunicorn-gthread/2x8/sync-api",  # one worker against two
    ]
    assert all(p.repeats == DEFAULT_REPEATS for p in plans)
    assert all(p.precision == 0.05 and p.min_requests >= 300 for p in plans)
    assert all(p.delay == HEADLINE_DELAY_S for p in plans)
    assert ("gunicorn-gthread", 1, 16, "sync-api") in {
        (p.server, p.workers, p.threads, p.scenario) for p in plans_for("full")
    }  # threads: in the full map, for the default's budget
    # The first configuration fits the default's budget by the plan's own estimate; a 95%
    # interval needs REPEATS fresh searches, which make capacity gives a question's pair.
    assert plans[0].estimate(5.0) <= TIME_LIMITS["default"]
    assert REPEATS >= 3
    assert replace(plans[0], repeats=REPEATS).estimate(5.0) > TIME_LIMITS["default"]


def test_a_search_is_estimated_from_its_steps_warm_up_and_judged_seconds():
    plan = plans_for("default")[0]
    one = plan.estimate(0.0)
    hold = least_hold_s(plan.slo_p99_ms, plan.precision)
    assert one >= STEPS_EXPECTED * hold  # each step judges that long, at least
    assert replace(plan, repeats=3).estimate(0.0) == pytest.approx(3 * one)
    assert plan.estimate(5.0) == pytest.approx(one + 5.0)


def test_full_maps_every_kind_threads_and_what_each_stack_costs():
    plans = plans_for("full")
    assert {p.server for p in plans} == {
        "uvicorn",
        "gunicorn-gthread",
        "gunicorn-uvicorn",
        "granian",
        "granian-wsgi",
    }
    assert {p.threads for p in plans if p.server == "gunicorn-gthread"} == {4, 8, 16}
    assert {p.instrumentation for p in plans} == set(STACK_NAMES)
    costed = {p.base_key for p in plans if p.instrumentation == "opentelemetry"}
    assert costed == {
        f"{server}/1x8/{scenario}"
        for server in ("uvicorn", "gunicorn-gthread")
        for scenario in ("sync-api", "async-api", "async-fanout")
    }
    for key in costed:  # each under every stack, the stack's name in the key unless lab
        stacks = {p.key for p in plans if p.base_key == key}
        assert stacks == {key, *(f"{key}/{s}" for s in STACK_NAMES if s != DEFAULT_STACK)}
    assert all(p.repeats >= 3 for p in plans)
    assert len(plans) == len(set(plans))


def test_capacity_only_and_the_search_arguments():
    args = parse_args(["--capacity-only", "--capacity-time-limit", "30"])
    assert args.command == "capacity"
    assert args.capacity_time_limit == 30
    assert not parse_args(["--no-capacity"]).capacity
    assert parse_args([]).capacity, "make bench maps the default profile's capacity"
    assert not parse_args(["--cell", "uvicorn:1:async-api"]).capacity, "a picked cell only"
    assert parse_args(["--cell", "uvicorn:1:async-api", "--capacity"]).capacity
    assert not parse_args(["--profile", "smoke"]).capacity, "make quick stays quick"
    assert parse_args(["--profile", "smoke", "--capacity-only"]).capacity
    plan = plans_for("default")[0]  # gunicorn gthread: the search starts near its slot ceiling
    plan_out = "search1.json"
    argv = locust_argv(Generator(), plan, "http://127.0.0.1:1", plan_out, seed=12345)
    assert argv[argv.index("--arrival-rate") + 1] == f"{plan.start_rps:g}"
    assert plan.start_rps == 200.0  # 8 threads / 0.02 s / 2
    assert argv[argv.index("--capacity-slo-ms") + 1] == "60"
    assert argv[argv.index("--arrival-seed") + 1] == "12345"
    assert argv[argv.index("--capacity-precision") + 1] == "0.05"
    assert argv[argv.index("--capacity-ceiling") + 1] == "400"  # 8 threads / 0.02 s
    assert argv[argv.index("--capacity-growth") + 1] == "0", "the search's own steps near it"
    uvicorn = plans_for("default")[1]
    assert "--capacity-ceiling" not in locust_argv(Generator(), uvicorn, "http://x", plan_out)
    assert argv[-1] == "SyncApiUser"
    assert plan_out in argv


def test_a_plan_that_names_its_first_rate_starts_the_search_there():
    plan = plans_for("default")[0]
    assert "--capacity-start" not in locust_argv(Generator(), plan, "http://x", "out.json"), (
        "unnamed: the plugin starts near the slot ceiling"
    )
    argv = locust_argv(Generator(), replace(plan, first_rps=152.5), "http://x", "out.json")
    assert argv[argv.index("--capacity-start") + 1] == "152.5"
    assert argv[argv.index("--capacity-ceiling") + 1] == "400", "the ceiling still shapes it"


def test_a_plan_caps_the_retests_of_an_edge_too_close_to_call():
    plan = plans_for("default")[0]
    argv = locust_argv(Generator(), plan, "http://x", "out.json")
    assert argv[argv.index("--capacity-max-edge-tests") + 1] == str(MAX_TESTS_PER_EDGE)
    argv = locust_argv(Generator(), replace(plan, max_edge_tests=1), "http://x", "out.json")
    assert argv[argv.index("--capacity-max-edge-tests") + 1] == "1"


def test_each_search_gets_a_fresh_seed_from_the_run_the_configuration_and_the_repeat():
    seeds = {
        arrival_seed(run, key, repeat)
        for run in ("20261206-100000", "20261206-100001")
        for key in ("gunicorn-gthread/1x8/sync-api", "uvicorn/1x8/async-api")
        for repeat in (1, 2, 3)
    }
    assert len(seeds) == 12, "no two searches share their arrivals"
    again = arrival_seed("20261206-100000", "uvicorn/1x8/async-api", 2)
    assert again == arrival_seed("20261206-100000", "uvicorn/1x8/async-api", 2), "recorded"
    assert all(1 <= seed < 2**31 for seed in seeds)


def test_a_fan_out_search_calls_the_upstream_through_the_labs_pool():
    fanout = next(p for p in plans_for("full") if p.scenario == "async-fanout")
    env = server_env(fanout, "http://127.0.0.1:9/api/")
    assert env["UPSTREAM_URL"] == "http://127.0.0.1:9/api/"
    assert env["UPSTREAM_POOL_SIZE"] == str(UPSTREAM_POOL_SIZE)  # what the model's ceiling uses


def test_the_database_paths_have_a_pool_dimension_and_skip_what_cannot_run():
    # The default leaves them to the paired comparison (tests/loadtests/sweep/test_db_compare*).
    assert not [p for p in plans_for("default") if p.uses_database]
    full = [p for p in plans_for("full") if p.uses_database]
    native = next(p for p in full if p.key == "uvicorn/1x8/async-db-native/pool10")
    assert server_env(native, None)["DB_POOL_SIZE"] == "10"
    assert native.start_rps == 50.0  # half of 1 worker x 10 connections / 0.1 s
    full = [p for p in plans_for("full") if p.uses_database]
    assert {p.db_pool for p in full} == {5, 10}
    skipped = {(p.server, p.scenario) for p in full if p.skipped}
    assert skipped == {("gunicorn-gthread", "async-db-native"), ("granian-wsgi", "async-db-native")}
    assert all(p.repeats >= 3 for p in full)
    # Not a database plan: no pool in its key or its environment.
    assert "DB_POOL_SIZE" not in server_env(plans_for("default")[0], None)


def test_capacity_match_is_a_regular_expression_over_the_keys():
    full = plans_for("full")
    assert matching(full, None) == full
    plain = matching(full, "db")  # a plain substring still picks what it names
    assert plain
    assert all("db" in p.key for p in plain)
    picked = matching(full, r"^uvicorn/1x8/.*/pool10$")
    assert sorted(p.scenario for p in picked) == ["async-db", "async-db-native", "sync-db"]
    assert {(p.server, p.workers, p.db_pool) for p in picked} == {("uvicorn", 1, 10)}
    assert matching(full, "no-such-configuration") == []


def test_a_capacity_match_that_is_no_regular_expression_is_refused(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--capacity-only", "--capacity-match", "uvicorn/(1x8"])
    assert "--capacity-match is not a regular expression" in capsys.readouterr().err


def test_instrumentation_maps_each_matched_configuration_under_each_stack_named():
    """``make capacity MATCH=... INSTRUMENTATION=none,opentelemetry``: MATCH picks the
    configurations by their name without a stack; each is mapped under each stack, side by side,
    whatever stacks the profile listed it under."""
    matched = matching(plans_for("full"), "^uvicorn/1x8/(sync|async)-api$")
    plans = under_stacks(matched, ["none", "opentelemetry"])
    assert [p.key for p in plans] == [
        "uvicorn/1x8/sync-api/none",
        "uvicorn/1x8/sync-api/opentelemetry",
        "uvicorn/1x8/async-api/none",
        "uvicorn/1x8/async-api/opentelemetry",
    ]
    assert {p.base_key for p in plans} == {"uvicorn/1x8/sync-api", "uvicorn/1x8/async-api"}
    assert parse_args(["--instrumentation", "none, lab,none"]).stacks == ["none", "lab"]
    assert parse_args([]).stacks is None, "the profile's own stacks"


def test_the_phase_keeps_what_cannot_run_unmeasured_and_stops_at_its_time_limit():
    record = results.load(STORED_RESULTS)
    record.capacity, record.meta.notes, notes = [], [], []
    full = plans_for("full")
    native = next(p for p in full if p.skipped)  # the native path under a WSGI kind
    db = next(p for p in full if p.uses_database and not p.skipped)
    later = plans_for("default")[0]
    spent = (time.monotonic(), 0.0)  # the deadline has passed: no search fits
    found = experiments([native, db, later], None, record, notes.append, spent, {}, "no cluster")
    assert phase.run(found, lambda: None, notes.append) == 1, "the database's failure counts"
    skipped, failed = record.capacity
    assert (skipped.key, skipped.skipped, skipped.error) == (native.key, native.skipped, None)
    assert skipped.limit.sentence == f"not applicable: {native.skipped}"
    assert (failed.key, failed.error, failed.lambda_star_rps) == (db.key, "no cluster", None)
    assert failed.limit.model_rps == db.model()[0], "the model's ceiling, even unmeasured"
    assert notes[0].startswith(f"capacity {native.key}: not mapped, ")
    assert notes[1].startswith(f"capacity {db.key}: failed: no cluster")
    assert record.meta.notes == [f"capacity: time limit of 0 s reached; not mapped: {later.key}"]
