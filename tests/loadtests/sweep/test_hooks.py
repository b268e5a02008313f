"""What plugs into a sweep's run (``loadtests.sweep.hooks``): the declared interface, and the
guard that turns a failing hook off while the measurement goes on."""

from __future__ import annotations

import inspect
from pathlib import Path

from loadtests.prometheus.hook import PrometheusHook
from loadtests.sweep.hooks import Guarded, RunHooks


class Broken:
    """A hook whose start fails; it counts what it is asked afterwards."""

    name = "broken"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def locust_env(self) -> dict[str, str]:
        self.calls.append("locust_env")
        return {"X": "1"}

    def start(self, run_dir, meta) -> None:
        raise RuntimeError("no port")

    def targets(self, run_dir, cell, targets) -> None:
        self.calls.append("targets")

    def cell_done(self, run_dir, cell):
        self.calls.append("cell_done")

    def finish(self, run_dir, results):
        self.calls.append("finish")


def test_a_failing_hook_is_noted_once_and_asked_nothing_more(capsys):
    broken = Broken()
    hooks = Guarded(broken)
    assert hooks.locust_env() == {"X": "1"}
    hooks.start(Path("."), None)
    hooks.targets(Path("."), "uvicorn/1/async-api", {"app": "http://127.0.0.1:9"})
    assert hooks.cell_done(Path("."), None) is None
    assert hooks.finish(Path("."), None) is None
    assert broken.calls == ["locust_env"]
    assert hooks.errors == ["broken.start: RuntimeError('no port')"]
    assert "RuntimeError: no port" in capsys.readouterr().err


def test_no_hook_answers_the_defaults():
    hooks = Guarded(None)
    assert hooks.locust_env() == {}
    assert hooks.finish(Path("."), None) is None
    assert hooks.errors == []


def test_the_prometheus_hook_has_every_method_of_the_interface_with_its_parameters():
    declared = {n: f for n, f in vars(RunHooks).items() if inspect.isfunction(f) and n[0] != "_"}
    assert set(declared) == {"locust_env", "start", "targets", "cell_done", "finish"}
    for name, method in declared.items():
        ours = inspect.signature(getattr(PrometheusHook, name)).parameters
        assert list(ours) == list(inspect.signature(method).parameters), name
    assert PrometheusHook.name == "prometheus"
