"""HDR records of an open-model step: two workers merge to the exact combined percentiles."""

from __future__ import annotations

import random

from hdrh.histogram import HdrHistogram

from loadtests.plugins.recording import (
    HIGHEST_US,
    LOWEST_US,
    SIGNIFICANT_DIGITS,
    StepRecording,
)


def _worker(rng: random.Random, count: int, scale_ms: float) -> tuple[StepRecording, list[int]]:
    record, values = StepRecording(), []
    for _ in range(count):
        ms = rng.expovariate(1.0 / scale_ms)
        record.record_lag(rng.random())
        record.record(ms, ms * 0.5, None, True)
        values.append(max(LOWEST_US, round(ms * 1000)))
    record.sent_count = count
    record.paced_s = 2.0
    return record, values


def test_two_workers_merge_to_the_percentiles_of_all_their_requests():
    rng = random.Random(7)
    # Two very different workers: the merged p99 is neither one's p99 nor their mean.
    fast, fast_values = _worker(rng, 5000, 5.0)
    slow, slow_values = _worker(rng, 1000, 300.0)
    merged = StepRecording()
    for part in (fast, slow):
        merged.merge(StepRecording.from_message(part.to_message()))  # as the master gets them
    together = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    for value in fast_values + slow_values:
        together.record_value(value)
    summary = merged.summary(3000.0)
    for p in (50, 95, 99):
        assert summary["latency_ms"][f"p{p}"] == together.get_value_at_percentile(p) / 1000.0
    exact_p99 = sorted(fast_values + slow_values)[int(0.99 * 6000) - 1] / 1000.0
    assert abs(summary["latency_ms"]["p99"] - exact_p99) <= exact_p99 * 10**-SIGNIFICANT_DIGITS * 2
    mean_of_p99s = (
        fast.summary(1.0)["latency_ms"]["p99"] + slow.summary(1.0)["latency_ms"]["p99"]
    ) / 2
    assert abs(summary["latency_ms"]["p99"] - mean_of_p99s) > 50
    assert summary["completed"] == summary["sent"] == 6000
    assert summary["achieved_rps"] == 3000.0


def test_counts_and_errors_add_up_and_dropped_requests_count_as_errors():
    a, b = StepRecording(), StepRecording()
    a.record(10.0, 9.0, "status 500", True)
    a.dropped = 2
    b.record(12.0, 11.0, None, True)
    b.late = 1
    a.merge(StepRecording.from_message(b.to_message()))
    summary = a.summary(10.0)
    assert (summary["completed"], summary["errors"], summary["late"]) == (2, 3, 1)
    assert summary["error_samples"] == ["status 500"]
