"""Every cell and capacity entry names its instrumentation stack; older runs are migrated to the
stack they ran, in the stacks' own vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.analysis import results
from loadtests.analysis.records import SCHEMA_VERSION
from loadtests.observability.stacks import STACK_NAMES

RUNS = sorted(Path(__file__).resolve().parents[2].joinpath("docs", "runs").glob("*/results.json"))


@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.parent.name)
def test_a_stored_run_names_its_stacks_or_reads_as_the_app_as_shipped(path):
    data = json.loads(path.read_text())
    record = results.load(path)
    assert record.schema_version == SCHEMA_VERSION
    assert record.capacity or record.cells
    stacks = {c.instrumentation for c in record.cells} | {
        e.instrumentation for e in record.capacity
    }
    if data["schema_version"] >= 6:  # the run recorded each stack itself
        recorded = [e["instrumentation"] for e in data["capacity"] + data["cells"]]
        assert set(recorded) == stacks <= set(STACK_NAMES)
    else:  # stored before the stacks were kept: the app as shipped
        assert stacks <= {"lab"}


@pytest.mark.parametrize(
    ("variant", "stack"),
    [("", "lab"), ("this", "lab"), ("off", "none"), ("django-prometheus",) * 2],
)
def test_an_older_variant_becomes_the_stack_it_ran(variant, stack):
    data = json.loads(RUNS[0].read_text())
    entry = dict(data["capacity"][0], variant=variant)
    data["capacity"] = [entry]
    (migrated,) = results.parse(data).capacity
    assert migrated.instrumentation == stack in STACK_NAMES
    assert migrated.variant == variant, "the key a stored run's report prints stays"
