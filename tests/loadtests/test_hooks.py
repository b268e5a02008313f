"""The sweep's extension seam: hooks are loaded by name, and one that fails never stops it."""

import pytest

from loadtests import hooks


class Recorder:
    name = "recorder"

    def __init__(self):
        self.calls = []

    def locust_env(self):
        return {"LOCUST_EXPORTER_PORT": "9646"}

    def cell_done(self, run_dir, cell):
        self.calls.append(cell["scenario"])
        return {"seen": True}


class Broken:
    name = "broken"

    def cell_done(self, run_dir, cell):
        raise RuntimeError("no Prometheus here")


def make_recorder():
    return Recorder()


def test_hooks_answer_and_a_failing_one_is_dropped(tmp_path):
    recorder = Recorder()
    extensions = hooks.Hooks([Broken(), recorder])
    assert extensions.locust_env() == {"LOCUST_EXPORTER_PORT": "9646"}
    answers = extensions.call("cell_done", tmp_path, {"scenario": "async-api"})
    assert answers == {"recorder": {"seen": True}}
    assert recorder.calls == ["async-api"]
    assert extensions.errors == ["broken.cell_done: RuntimeError('no Prometheus here')"]
    assert extensions.call("cell_done", tmp_path, {"scenario": "sync-api"}) == {
        "recorder": {"seen": True}
    }


def test_hooks_are_named_module_colon_factory():
    (loaded,) = hooks.load([f"{__name__}:make_recorder"])
    assert isinstance(loaded, Recorder)
    with pytest.raises(ValueError, match="module:factory"):
        hooks.load([__name__])
