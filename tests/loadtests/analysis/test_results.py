"""results.json's migrations: a version 4 capacity step's send_p* become its send_latency_ms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.analysis import results
from loadtests.model.latency import LatencyMs

RUNS = sorted((Path(__file__).resolve().parents[3] / "docs" / "runs").glob("*/results.json"))


@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.parent.name)
def test_every_stored_step_keeps_its_percentiles_from_the_send(path):
    raw = json.loads(path.read_text())
    loaded = results.load(path)
    pairs = [
        (stored, step)
        for entry, kept in zip(raw.get("capacity") or [], loaded.capacity, strict=True)
        for stored, step in zip(entry["steps"], kept.steps, strict=True)
    ]
    if raw["schema_version"] >= 5:  # stored as its own record since version 5
        assert any(stored.get("send_latency_ms") for stored, _ in pairs) == bool(pairs)
        for stored, step in pairs:
            assert step.latency_ms == LatencyMs(**stored["latency_ms"])
            send = stored.get("send_latency_ms")
            assert step.send_latency_ms == (LatencyMs(**send) if send else None)
        return
    assert any(stored["latency_ms"].get("send_p50") for stored, _ in pairs) == bool(pairs)
    for stored, step in pairs:
        own = {k: v for k, v in stored["latency_ms"].items() if not k.startswith("send_")}
        send = {k[5:]: v for k, v in stored["latency_ms"].items() if k.startswith("send_")}
        assert step.latency_ms == LatencyMs(**own)
        assert step.send_latency_ms == (LatencyMs(**send) if send else None)
