"""Every option of every command-line entry point has help text, and the help shows the default.

Each entry point's parser is caught as it is about to parse (so its module needs no
refactoring to be checked), then every option is read as ``--help`` would print it.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest

# module -> the function that builds its parser and parses
ENTRY_POINTS = {
    "loadtests.sweep.cli": "parse_args",
    "loadtests.bench.overhead": "main",
    "loadtests.bench.timings": "main",
    "loadtests.upstream_server": "main",
    "loadtests.run": "main",
    "loadtests.locust_options": "main",
    "loadtests.docs_tables": "main",
    "loadtests.report.__main__": "main",
    "dashboards.observe": "main",
    "dashboards.build": "main",
    "mysite.launcher": "main",
    "mysite.db.cluster": "main",
}


class Caught(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def parser_of(module: str, monkeypatch) -> argparse.ArgumentParser:
    def catch(self, *args, **kwargs):
        raise Caught(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", catch)
    entry = getattr(importlib.import_module(module), ENTRY_POINTS[module])
    with pytest.raises(Caught) as caught:
        entry([]) if entry.__code__.co_argcount else entry()
    return caught.value.parser


def shown(default) -> set[str]:
    """The ways a default may be written in help text."""
    if isinstance(default, bool):
        return {str(default), "on" if default else "off"}
    if isinstance(default, float):
        return {f"{default:g}", str(default)}
    if isinstance(default, Path):
        return {str(default)}
    if isinstance(default, list | tuple):
        return {" ".join(map(str, default)), str(default)}
    return {str(default)}


def problems_of(parser: argparse.ArgumentParser) -> list[str]:
    formatter = parser._get_formatter()
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):  # each command's own options
            found += [p for sub in action.choices.values() for p in problems_of(sub)]
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        name = "/".join(action.option_strings) or action.dest
        if not action.help:
            found.append(f"{name}: no help")
            continue
        text = " ".join(formatter._expand_help(action).split())
        if action.default in (None, False, argparse.SUPPRESS, [], ()):
            continue  # nothing to show: absent means off, or the help says what decides it
        if "default" not in text.lower() or not any(s in text for s in shown(action.default)):
            found.append(f"{name}: help does not show its default {action.default!r}: {text!r}")
    return found


@pytest.mark.parametrize("module", sorted(ENTRY_POINTS))
def test_every_option_has_help_that_shows_its_default(module, monkeypatch):
    assert problems_of(parser_of(module, monkeypatch)) == []


def test_the_check_catches_an_option_without_help_or_default():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quiet-one", type=int, default=3)
    parser.add_argument("--said", type=int, default=3, help="said (default: %(default)s)")
    parser.add_argument("--unsaid", type=int, default=3, help="not said")
    assert [p.split(":")[0] for p in problems_of(parser)] == ["--quiet-one", "--unsaid"]
