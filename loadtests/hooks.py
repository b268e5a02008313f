"""Extension points of the sweep, for what runs beside it (say, a real Prometheus).

A hook is an object with any of these methods; the sweep calls the ones it has, in order:

- ``start(run_dir: Path, meta: dict) -> None``: before the first cell; may add to ``meta``.
- ``locust_env() -> dict[str, str]``: environment for the Locust processes (for instance
  ``{"LOCUST_EXPORTER_PORT": "9646"}`` so a Prometheus can scrape the generator; by default the
  sweep turns the exporter off with ``LOCUST_EXPORTER_PORT=0``).
- ``targets(run_dir: Path, cell: str, targets: dict[str, str]) -> None``: a cell's servers are
  up; ``targets`` maps ``"app"`` (and ``"upstream"`` when used) to their base URLs.
- ``cell_done(run_dir: Path, cell: dict) -> dict | None``: a cell is measured; its windows carry
  ``start`` and ``end`` (Unix seconds). What it returns is stored in ``cell["extensions"][name]``.
- ``finish(run_dir: Path, results: dict) -> list[dict] | None``: after the last cell, even
  after an interruption. What it returns is appended to ``results["panels"]``, which the report
  renders as extra sections. A panel is ``{"title": str, "caption": str, "unit": str,
  "series": [{"label": str, "points": [[unix, value], ...]}]}`` and is drawn as a time series,
  the cells' measured windows shaded behind it. Optional keys: ``group`` (panels of one group
  are drawn side by side under that heading), ``spans`` (``[[start, end], ...]``: the windows
  to shade instead), ``origin`` (the Unix time the x axis counts from); a value may be None.
  ``prometheus_hook`` is such a hook, on by default.

Hooks are named on the command line as ``--hook package.module:factory``; ``factory()`` returns
the hook, whose ``name`` attribute (default: the factory's name) keys what it stores.
A hook that raises is reported and dropped; it never stops the measurement.
"""

from __future__ import annotations

import importlib
import logging
import traceback

logger = logging.getLogger(__name__)


def load(specs: list[str]) -> list[object]:
    hooks = []
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        if not attr:
            raise ValueError(f"--hook {spec!r}: expected package.module:factory")
        factory = getattr(importlib.import_module(module_name), attr)
        hook = factory()
        if not getattr(hook, "name", None):
            hook.name = attr
        hooks.append(hook)
    return hooks


class Hooks:
    """Calls every hook's method of a name, keeping the sweep alive when one fails."""

    def __init__(self, hooks: list[object]) -> None:
        self.hooks = list(hooks)
        self.errors: list[str] = []

    def call(self, method: str, *args) -> dict[str, object]:
        answers = {}
        for hook in list(self.hooks):
            function = getattr(hook, method, None)
            if function is None:
                continue
            try:
                answers[hook.name] = function(*args)
            except Exception as error:
                self.errors.append(f"{hook.name}.{method}: {error!r}")
                logger.error("hook %s.%s failed:\n%s", hook.name, method, traceback.format_exc())
                self.hooks.remove(hook)
        return answers

    def locust_env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for answer in self.call("locust_env").values():
            env.update(answer or {})
        return env
