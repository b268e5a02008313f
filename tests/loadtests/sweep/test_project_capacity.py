"""``make bench APP=<dir>``'s planning and wiring: one plan per loadable route x kind x worker
count, each named by its route; the route's service time standing in for a delay; the options
and the Makefile passing them on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from loadtests.analysis.capacity import SLOTS
from loadtests.project.routes import Route
from loadtests.scenarios import ROUTE_USER_CLASS
from loadtests.sweep.capacity import locust_argv
from loadtests.sweep.capacity_plan import ROUTE_SLO_FLOOR_MS, STEPS_EXPECTED
from loadtests.sweep.cli import parse_args
from loadtests.sweep.generator import Generator
from loadtests.sweep.project_capacity import SHORT_SEARCH, route_load, route_plans
from tests.loadtests.conftest import ROOT

LIST = Route("GET", "/", name="article-list", weight=3)
DETAIL = Route("GET", "/articles/<int:pk>/", values={"pk": "2"}, name="article-detail")
NEW = Route("POST", "/articles/new/", extra={"title": "Hi"}, status=302)
S = {"uvicorn": 0.004, "gunicorn-gthread": 0.005}


def measured(routes, kinds=tuple(S)):
    return {(k, f"{r.method} {r.pattern}"): (r, S[k]) for r in routes for k in kinds}


def test_one_plan_per_route_kind_and_worker_count_the_heaviest_route_first():
    plans = route_plans(measured([DETAIL, NEW, LIST]), list(S), (1, 2), 8, {"delay": 0.0})
    assert [p.key for p in plans] == [
        "uvicorn/1x8/article-list",
        "uvicorn/2x8/article-list",
        "gunicorn-gthread/1x8/article-list",
        "gunicorn-gthread/2x8/article-list",
        "uvicorn/1x8/article-detail",
        "uvicorn/2x8/article-detail",
        "gunicorn-gthread/1x8/article-detail",
        "gunicorn-gthread/2x8/article-detail",
        # No URL name: its pattern names it.
        "uvicorn/1x8//articles/new/",
        "uvicorn/2x8//articles/new/",
        "gunicorn-gthread/1x8//articles/new/",
        "gunicorn-gthread/2x8//articles/new/",
    ]
    assert [p.scenario for p in plans[::4]] == ["article-list", "article-detail", "/articles/new/"]
    assert plans[-1].slug == "gunicorn-gthread-2x8--articles-new"
    assert all(p.spec.user_class == ROUTE_USER_CLASS and not p.skipped for p in plans)


def test_a_route_measured_under_one_kind_only_is_planned_under_that_kind():
    found = measured([LIST], ("uvicorn",)) | measured([DETAIL], ("gunicorn-gthread",))
    plans = route_plans(found, list(S), (1,), 8, {"delay": 0.0})
    assert [p.key for p in plans] == [
        "uvicorn/1x8/article-list",
        "gunicorn-gthread/1x8/article-detail",
    ]


def test_the_service_time_stands_in_for_the_delay():
    uvicorn, gthread = route_plans(measured([LIST]), list(S), (2,), 8, {"delay": 0.0})
    # A thread-per-request kind holds workers x threads requests for S; an ASGI kind, none.
    assert gthread.model()[0] == pytest.approx(2 * 8 / S["gunicorn-gthread"])
    assert gthread.model_binds == SLOTS
    assert uvicorn.model()[0] is None
    # The search starts at a quarter of what the workers serve one at a time, knowing no ceiling.
    assert gthread.start_rps == pytest.approx(2 / S["gunicorn-gthread"] / 4, abs=0.1)
    assert gthread.slot_ceiling is None
    argv = locust_argv(Generator(), gthread, "http://127.0.0.1:1", Path("out.json"))
    assert argv[-1] == ROUTE_USER_CLASS
    assert "--capacity-ceiling" not in argv
    # Its SLO: 2 x S + 20 ms, at least the floor; or the one named.
    assert gthread.slo_p99_ms == ROUTE_SLO_FLOOR_MS
    slow = route_plans({("uvicorn", "GET /"): (LIST, 0.2)}, ["uvicorn"], (1,), 8, {"delay": 0.0})[0]
    assert slow.slo_p99_ms == pytest.approx(2 * 200 + 20)
    named = route_plans(measured([LIST]), list(S), (1,), 8, {"delay": 0.0, "slo_ms": 30.0})
    assert {p.slo_p99_ms for p in named} == {30.0}


def test_the_load_asks_for_the_route_as_the_pre_flight_did():
    assert route_load(DETAIL).path == "/articles/2/"
    new = route_load(NEW)
    assert (new.method, new.status, new.form, new.query) == ("POST", 302, (("title", "Hi"),), ())
    assert route_load(Route("GET", "/s/", extra={"q": "x"})).query == (("q", "x"),)


def test_short_search_settings_are_plan_fields():
    plan = route_plans(measured([LIST]), ["uvicorn"], (1,), 8, {"delay": 0.0, **SHORT_SEARCH})[0]
    assert (plan.max_steps, plan.edge_tests) == (SHORT_SEARCH["max_steps"], 1)


def test_app_options_map_only_the_project_s_routes(tmp_path):
    routes = tmp_path / "routes"
    routes.write_text("GET /\n")
    app = ROOT / "tests" / "project" / "sample"
    config = parse_args(["--app", str(app), "--routes", str(routes), "--fixture", "articles"])
    assert (config.app, config.routes, config.fixture) == (app, routes, ["articles"])
    assert (config.capacity, config.db_compare, config.server_life) == (True, False, False)


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--routes", "r"], "--routes needs --app"),
        (["--slo-ms", "50"], "--slo-ms needs --app"),
        (["--app", "/nonexistent"], "not a directory"),
        (["--app", ".", "--servers", "gunicorn-uvicorn"], "not gunicorn-uvicorn"),
        (["--app", ".", "--host", "http://127.0.0.1:8000"], "not with --host"),
    ],
)
def test_app_options_that_cannot_run_are_refused(argv, problem, capsys):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert problem in capsys.readouterr().err


def make_n(*args: str) -> str:
    argv = ["make", "-n", "--no-print-directory", "bench", *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_make_bench_passes_app_and_routes_to_the_sweep():
    sweep = [line for line in make_n("APP=x", "ROUTES=y").splitlines() if "loadtests.sweep" in line]
    assert sweep
    assert "-m loadtests.sweep --app x --routes y" in sweep[-1]
    plain = [line for line in make_n().splitlines() if "loadtests.sweep" in line]
    assert plain
    assert "--app" not in plain[-1]


def test_a_search_is_estimated_near_the_workers_one_at_a_time_rate():
    # 1 / 5 ms = 200 req/s: 800 requests a step take 4 s, longer than its least hold (the
    # route's 100 ms SLO / its 10% precision: 1 s).
    (plan,) = route_plans(measured([LIST]), ["gunicorn-gthread"], (1,), 8, {"delay": 0.0})
    assert plan.estimate(5.0) == pytest.approx(5.0 + 2.0 + STEPS_EXPECTED * (0.5 + 4.0 + 0.5))


def test_routes_that_share_a_url_name_are_told_apart_by_their_patterns():
    # The admin's login page and django.contrib.auth's are both "login" (the admin's in its
    # namespace): mdn's locallibrary has both.
    one = Route("GET", "/admin/login/", name="login")
    other = Route("GET", "/accounts/login/", name="login")
    post = Route("POST", "/accounts/login/", name="login")
    plans = route_plans(measured([one, other, post, LIST]), ["uvicorn"], (1,), 8, {"delay": 0.0})
    assert [p.scenario for p in plans] == [
        "article-list",
        "/admin/login/",
        "GET /accounts/login/",
        "POST /accounts/login/",
    ]
