"""The sweep's run loop (``loadtests.sweep.main.measure_cells``), without servers: the runs are
interleaved, nothing is analysed while they run, and every way out (the end, Ctrl-C, the time
limit, a failed run) keeps what was measured. The live sweep tests run the same loop for real
(test_sweep_live.py, test_db_interrupt_live.py)."""

from __future__ import annotations

import dataclasses
import io
from types import SimpleNamespace

import pytest

from loadtests.analysis.results import load
from loadtests.project.routes import Route
from loadtests.scenarios import ROUTE_USER_CLASS, SLEEP, SYNC, RouteLoad
from loadtests.sweep import cli, main, project_capacity
from loadtests.sweep.generator import Generator, LoadRun, master_argv, told_route
from loadtests.sweep.plan import PROFILES, ProjectRoute, from_args, route_cells
from loadtests.sweep.progress import INITIAL_START_COST, Progress, interleaved
from mysite.launcher import ServerFailed

CELLS = ["--cell", "uvicorn:1:async-api", "--cell", "uvicorn:1:sync-api"]


class Loop:
    """measure_cells with the measurement and the analysis replaced by a log of the calls."""

    def __init__(self, monkeypatch, fail=None, time_limit=1e9, run_s=0.0) -> None:
        profile, self.plans = from_args(cli.parse_args(CELLS))
        self.profile = dataclasses.replace(profile, time_limit=time_limit)
        self.log: list[tuple] = []
        self.clock, self.run_s, self.fail = 0.0, run_s, fail or (lambda scenario, index: None)
        monkeypatch.setattr(main.cells, "measure_run", self.measure_run)
        monkeypatch.setattr(main.cells, "cell_of", self.cell_of)
        monkeypatch.setattr(main.time, "monotonic", lambda: self.clock)
        meta = SimpleNamespace(notes=[], skipped_cells=[], status="running")
        self.record = SimpleNamespace(meta=meta, cells=[])

    def measure_run(self, plan, ctx, index, tick):
        self.log.append(("run", plan.scenario, index))
        self.clock += self.run_s
        error = self.fail(plan.scenario, index)
        if error:
            raise error
        return {"run": index}

    def cell_of(self, plan, ctx, runs, started):
        self.log.append(("analyse", plan.scenario, len(runs)))
        return plan.scenario

    def __call__(self) -> int:
        progress = Progress(interleaved(self.plans), stream=io.StringIO())
        return main.measure_cells(self.plans, self.profile, None, self.record, progress)


def test_runs_are_interleaved_and_each_cell_is_analysed_once_after_the_last_run(monkeypatch):
    loop = Loop(monkeypatch)
    assert loop() == 0
    runs = [("run", s, i) for i in range(3) for s in ("async-api", "sync-api")]
    assert loop.log == [*runs, ("analyse", "async-api", 3), ("analyse", "sync-api", 3)]
    assert loop.record.cells == ["async-api", "sync-api"]


def test_ctrl_c_keeps_the_cells_of_every_run_measured_so_far(monkeypatch):
    def interrupt_at_the_fourth(scenario, index):
        return main.Interrupted("SIGINT") if (scenario, index) == ("sync-api", 1) else None

    loop = Loop(monkeypatch, fail=interrupt_at_the_fourth)
    with pytest.raises(main.Interrupted):
        loop()
    assert loop.log[-2:] == [("analyse", "async-api", 2), ("analyse", "sync-api", 1)]
    assert loop.record.cells == ["async-api", "sync-api"]


def test_the_time_limit_stops_before_a_run_that_would_pass_it(monkeypatch):
    estimate = interleaved(Loop(monkeypatch).plans)[0].estimate(INITIAL_START_COST)
    # Room for two runs and a half (each takes 100 s, the start included): the third is not
    # started.
    loop = Loop(monkeypatch, time_limit=2.5 * 100.0, run_s=100.0)
    assert estimate < 100.0
    assert loop() == 1
    assert [e for e in loop.log if e[0] == "run"] == [
        ("run", "async-api", 0),
        ("run", "sync-api", 0),
    ]
    assert loop.record.meta.status == "time-limit"
    assert "time limit of 250 s reached: 4 run(s) not measured" in loop.record.meta.notes[0]
    assert loop.record.cells == ["async-api", "sync-api"]


def test_a_failed_run_fails_its_cell_and_the_others_go_on(monkeypatch):
    def server_fails(scenario, index):
        return ServerFailed("no /healthz") if scenario == "async-api" and index == 1 else None

    loop = Loop(monkeypatch, fail=server_fails)
    assert loop() == 1
    assert ("run", "async-api", 2) not in loop.log, "a failed cell's later runs are skipped"
    assert ("analyse", "sync-api", 3) in loop.log
    failed = loop.record.cells[0]
    assert (failed.scenario, failed.requests) == ("async-api", 0)
    assert "no /healthz" in str(failed)


def test_a_projects_run_plans_a_closed_loop_cell_per_route_kind_and_worker_count(
    monkeypatch, tmp_path
):
    """``--app``: after the pre-flight, the cells are the project's routes under each kind that
    answered, at the profile's worker counts, each named by its route's URL name and carrying
    the route (its pattern, the path its /metrics labels, and what Locust asks for); then the
    capacity map gets the same project."""
    detail = Route("GET", "/articles/<int:pk>/", values={"pk": "2"}, name="article-detail")
    listing = Route("GET", "/", name="article-list", weight=3)
    kinds = ("uvicorn", "gunicorn-gthread")
    measured = {(k, f"GET {r.pattern}"): (r, 0.004) for r in (detail, listing) for k in kinds}
    project = project_capacity.ProjectRoutes(SimpleNamespace(name="prepared"), measured)
    seen = {}
    monkeypatch.setattr(project_capacity, "prepared_routes", lambda *args: project)

    def measure_cells(plans, profile, ctx, record, progress):
        seen["plans"] = plans
        return 0

    def run_phases(config, profile, ctx, record, save, note, given):
        seen["phases"] = given
        return 0

    def render(run_dir):
        (run_dir / "summary.md").write_text("")
        return [run_dir / "summary.md"]

    monkeypatch.setattr(main, "measure_cells", measure_cells)
    monkeypatch.setattr(main, "run_phases", run_phases)
    monkeypatch.setattr(main.report, "render", render)
    argv = ["run", "--app", str(tmp_path), "--profile", "smoke", "--workers", "1", "2"]
    argv += ["--no-prometheus", "--out", str(tmp_path / "reports"), "--run-id", "app"]
    assert main.main(argv) == 0
    plans = seen["plans"]
    assert [p.key for p in plans] == [
        f"{kind}/{workers}/{name}"
        for name in ("article-list", "article-detail")  # the heaviest route first
        for kind in kinds
        for workers in (1, 2)
    ]
    smoke = PROFILES["smoke"]
    for plan in plans:
        assert plan.route is plan.spec
        assert plan.scenario == plan.route.name
        assert (plan.users, plan.repeats, plan.delay) == (smoke.users, smoke.repeats, 0.0)
        assert plan.service_time == 0.004
        assert plan.route.project is project.prepared
    detail_cell = plans[-1]
    assert detail_cell.spec.path == "/articles/<int:pk>/"
    assert detail_cell.route.load.path == "/articles/2/"
    assert detail_cell.slug == "gunicorn-gthread-2w-article-detail"
    assert detail_cell.model() == (10 / 0.004, "10 users / 0.004 s")
    assert seen["phases"] is project
    assert load(tmp_path / "reports" / "app" / "results.json").meta.planned_cells == 8


def test_locust_is_told_a_cells_route_in_one_process(tmp_path):
    """A route's cell: Locust's route user, told the route through LAB_ROUTE; a remote worker
    could not be told, so the load runs in one process."""
    load_ = RouteLoad("GET", "/articles/2/", "article-detail")
    args = ("article-detail", load_.user_class, "/articles/<int:pk>/", SLEEP, SYNC, "detail")
    route = ProjectRoute(*args, service_s=0.004, load=load_)
    [plan] = route_cells(PROFILES["smoke"], [("uvicorn", route)], keep_alive=False)
    gen = told_route(Generator(local_workers=2, env={"LOCUST_EXPORTER_PORT": "0"}), load_)
    assert not gen.distributed
    assert RouteLoad.from_env(gen.env) == load_
    assert gen.env["LOCUST_EXPORTER_PORT"] == "0"
    argv = master_argv(gen, LoadRun(plan, "http://127.0.0.1:1", tmp_path / "run1.json", 2))
    assert argv[-1] == ROUTE_USER_CLASS


def test_a_project_not_ready_maps_nothing_and_fails_the_run(monkeypatch, tmp_path):
    """Its pre-flight stopped it (the notes say why): neither its map nor the lab's runs."""

    def never(*args, **kwargs):
        raise AssertionError("no capacity map without the project")

    monkeypatch.setattr(main.capacity, "run_phase", never)
    monkeypatch.setattr(main.project_capacity, "run_phase", never)
    config = cli.parse_args(["run", "--app", str(tmp_path), "--no-prometheus"])
    assert config.capacity
    assert main.run_phases(config, PROFILES["default"], None, None, None, None, None) == 1
