"""An open-model step's records: two workers merge to the exact combined percentiles."""

from __future__ import annotations

import random

import msgspec

from loadtests.model.latency import Latency
from loadtests.plugins.recording import StepRecording


def _worker(rng: random.Random, count: int, scale_ms: float) -> tuple[StepRecording, list[float]]:
    record, values = StepRecording(), []
    for _ in range(count):
        ms = rng.expovariate(1.0 / scale_ms)
        record.record_lag(rng.random())
        record.record(ms, ms * 0.5, None, True)
        values.append(ms)
    record.sent_count = count
    record.paced_s = 2.0
    return record, values


def _as_the_master_gets_it(record: StepRecording) -> StepRecording:
    return msgspec.msgpack.decode(msgspec.msgpack.encode(record), type=StepRecording)


def test_two_workers_merge_to_the_percentiles_of_all_their_requests():
    rng = random.Random(7)
    # Two very different workers: the merged p99 is neither one's p99 nor their mean.
    fast, fast_values = _worker(rng, 5000, 5.0)
    slow, slow_values = _worker(rng, 1000, 300.0)
    merged = StepRecording()
    for part in (fast, slow):
        merged.merge(_as_the_master_gets_it(part))
    together = Latency.of(fast_values + slow_values)
    summary = merged.summary(3000.0)
    for q in (0.50, 0.95, 0.99):
        assert getattr(summary["latency_ms"], f"p{round(q * 100)}") == together.quantile(q)
    exact_p99 = sorted(fast_values + slow_values)[int(0.99 * 6000) - 1]
    assert abs(summary["latency_ms"].p99 - exact_p99) <= exact_p99 * 1e-3  # 3 digits
    mean_of_p99s = (fast.summary(1.0)["latency_ms"].p99 + slow.summary(1.0)["latency_ms"].p99) / 2
    assert abs(summary["latency_ms"].p99 - mean_of_p99s) > 50
    sent = Latency.of(v * 0.5 for v in fast_values + slow_values)
    assert summary["send_latency_ms"].p50 == sent.quantile(0.5)
    assert summary["completed"] == summary["sent"] == 6000
    assert summary["achieved_rps"] == 3000.0


def test_counts_and_errors_add_up_and_dropped_requests_count_as_errors():
    a, b = StepRecording(), StepRecording()
    a.record(10.0, 9.0, "status 500", True)
    a.dropped = 2
    b.record(12.0, 11.0, None, True)
    b.late = 1
    a.merge(_as_the_master_gets_it(b))
    summary = a.summary(10.0)
    assert (summary["completed"], summary["errors"], summary["late"]) == (2, 3, 1)
    assert summary["error_samples"] == ["status 500"]
    back = _as_the_master_gets_it(a)
    assert back == a
    back.errors["timeout"] += 1  # read back, its errors still count (the pacer's way)
    assert back.errors == {"status 500": 1, "timeout": 1}
