"""What a stack costs at capacity, end to end on a short profile: one configuration searched
under two stacks (none and OpenTelemetry, which exports to a receiver the phase starts), both
entries named by their stack, and the report's section setting one against the other.

The tests' fast path (a slot-bound gthread worker at a 0.05 s wait, each edge tested once, a
coarse precision): it proves the comparison runs, not what the stacks cost (docs/OBSERVABILITY.md
has the measured figures). Nothing here is judged against a model but the slots' ceiling, which
a busy machine can only keep a search under, so it runs beside the other tests, not quiet; its
time limit leaves room for both searches on a machine that slows the first."""

from __future__ import annotations

import pytest

from loadtests.analysis import results
from loadtests.report import observability
from loadtests.sweep.capacity import run_phase
from loadtests.sweep.capacity_plan import CapacityPlan
from loadtests.sweep.cell import Context
from loadtests.sweep.generator import Generator
from loadtests.sweep.main import pinning
from tests.loadtests.conftest import STORED_RESULTS

pytestmark = [pytest.mark.live, pytest.mark.slow]

THREADS, DELAY = 4, 0.05
SLOT_CEILING = THREADS / DELAY  # 80 requests/s: a rate any loaded machine's Locust keeps
SHORT = {
    "delay": DELAY,
    "min_requests": 60,
    "step_requests": 150,
    "precision": 0.3,
    "max_steps": 5,
    "edge_tests": 1,
    "calibrate_s": 0.0,
}
# Both searches took 76-84 s together when quiet; the second starts only while its estimate fits.
TIME_LIMIT_S = 300.0


@pytest.mark.timeout(TIME_LIMIT_S + 60)
def test_one_configuration_under_two_stacks_is_compared(tmp_path):
    generator_cpus, server_cpus, _ = pinning(True)
    ctx = Context(
        run_dir=tmp_path / "run",
        generator=Generator(cpus=generator_cpus, env={"LOCUST_EXPORTER_PORT": "0"}),
        server_cpus=server_cpus,
    )
    ctx.run_dir.mkdir()
    record = results.load(STORED_RESULTS)
    record.cells, notes = [], []
    plan = CapacityPlan("gunicorn-gthread", 1, THREADS, "sync-api", **SHORT)
    code = run_phase(
        "smoke",
        ctx,
        record,
        lambda: None,
        notes.append,
        time_limit=TIME_LIMIT_S,
        plans=[plan],
        stacks=["none", "opentelemetry"],
    )
    none, otel = record.capacity
    assert code == (1 if none.error or otel.error else 0), notes
    assert (none.key, otel.key) == (f"{plan.key}/none", f"{plan.key}/opentelemetry")
    assert (none.instrumentation, otel.instrumentation) == ("none", "opentelemetry")
    for entry in (none, otel):
        assert entry.thread_hops is None, "WSGI: no hops to count"
        if entry.is_result:
            assert entry.repeats == 1
            assert 0 < entry.lambda_star_rps <= 1.3 * SLOT_CEILING
        else:
            # A shared two-core box may starve the generator or the server (the search ends
            # as a lower bound, or no step holds), or keep a server from starting: the entry
            # says which, and the comparison below says there is nothing to compare.
            assert entry.error or entry.stopped_because, entry
    _, rows = observability.rows(record.capacity)
    assert [row[:2] for row in rows] == [[plan.key, "none"], [plan.key, "opentelemetry"]]
    if none.is_result:
        assert rows[0][3:5] == ["1", "baseline"]
    if none.is_result and otel.is_result:
        ratio = otel.lambda_star_rps / none.lambda_star_rps
        bound = none.lower_bound or otel.lower_bound  # the generator limited a search
        verdict = "no verdict: a λ* is a lower bound" if bound else "one search each: no interval"
        assert rows[1][3] == f"{ratio:.2f}x"
        assert rows[1][4].startswith(verdict)
    else:
        assert rows[1][3:5] == ["-", "no λ* to compare"]
    assert (ctx.run_dir / "capacity" / f"{plan.slug}-none").is_dir()
    assert (ctx.run_dir / "capacity" / f"{plan.slug}-opentelemetry").is_dir()
