"""The findings' and definitions' prose says the values the code used, not retyped numbers."""

from __future__ import annotations

from loadtests.analysis import thresholds
from loadtests.analysis.comparisons import label
from loadtests.model.experiment import UPSTREAM_POOL_SIZE
from loadtests.report import findings
from loadtests.report.page import CEILING_TERM, DEFINITIONS
from tests.loadtests.conftest import a_cell


def _pair(delay_s: float) -> list:
    return [
        a_cell(scenario="async-api", rps=40.0, delay_s=delay_s),
        a_cell(scenario="sync-api", rps=20.0, delay_s=delay_s),
    ]


def test_sync_against_async_names_the_delay_the_sweep_ran_with():
    (sentence,) = findings.sync_vs_async(_pair(0.5))
    assert "the same 0.5 s wait" in sentence
    assert "uvicorn x1: async against sync: 2.00x" in sentence
    (sentence,) = findings.sync_vs_async(_pair(0.2))
    assert "the same 0.2 s wait" in sentence


def test_the_flags_and_the_pool_are_defined_with_the_thresholds_in_use():
    text = dict(DEFINITIONS)
    assert f"passed {thresholds.GENERATOR_SATURATED_PERCENT:.0f}% of a core" in text["Flags"]
    assert f"over {thresholds.SERVER_CPU_BOUND_PERCENT:.0f}% of its cores" in text["Flags"]
    assert f"pool of {UPSTREAM_POOL_SIZE} upstream connections" in text[CEILING_TERM]


def test_a_saturated_generator_is_named_with_the_threshold_that_flagged_it():
    hot = a_cell(flags=["generator-saturated"], generator={"cpu_percent": 97.0, "processes": 1})
    (sentence,) = findings.generator_check([hot])
    assert f"passed {thresholds.GENERATOR_SATURATED_PERCENT:.0f}% of a core" in sentence
    assert label(hot) in sentence
