"""A window's rate from its requests' shares: exact for a closed loop whose users bunch, where
counting each request in the window it ends in is off by up to one request per user."""

from __future__ import annotations

import heapq

import pytest

from loadtests.model.windows import Entry
from loadtests.plugins.window_recorder import Recorder

# A window that is no whole number of latencies, as in a real run.
USERS, LATENCY_S, WINDOW_S, WINDOWS = 16, 0.21, 5.0, 2
NAME = "/async/api/"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def closed_loop(phases: list[float], first_edge: float) -> Recorder:
    """USERS back-to-back requests of LATENCY_S each, user i's first ending at ``phases[i]``;
    WINDOWS windows of WINDOW_S from ``first_edge``; the report after every user's request in
    flight at the last edge has ended (what ``plugins.window`` waits for)."""
    clock = Clock()
    recorder = Recorder(clock)
    edges = [(first_edge + k * WINDOW_S, k if k < WINDOWS else None) for k in range(WINDOWS + 1)]
    ends = [(phase, user) for user, phase in enumerate(phases)]
    heapq.heapify(ends)
    for _ in phases:
        recorder.begin()
    while ends:
        at, user = heapq.heappop(ends)
        while edges and edges[0][0] <= at:
            clock.now, index = edges.pop(0)
            recorder.mark(index)
        if not edges and recorder.settled():
            break
        clock.now = at
        recorder.on_request(NAME, LATENCY_S * 1000.0)
        recorder.begin()
        heapq.heappush(ends, (at + LATENCY_S, user))
    return recorder


def rates(recorder: Recorder) -> tuple[list[float], list[float]]:
    """(by shares, by whole requests where they end) per window, in requests/s."""
    windows = recorder.report("local", "local").windows
    return (
        [w.entries[NAME].share / WINDOW_S for w in windows],
        [w.entries[NAME].requests / WINDOW_S for w in windows],
    )


def test_bunched_users_are_counted_exactly_by_shares_wherever_the_edges_fall():
    """All users end together; the first edge moves across one latency before the bunch."""
    ceiling = USERS / LATENCY_S
    first_windows = []
    for step in range(1, 20):
        cut = LATENCY_S * step / 20
        by_shares, by_ends = rates(closed_loop([1.0] * USERS, first_edge=1.0 - cut))
        assert by_shares == pytest.approx([ceiling] * WINDOWS, rel=1e-5), cut
        first_windows.append(by_ends[0])
    # Counted where they end, the bunch falls wholly in one window or the next as the edge
    # moves: one request per user between them (16 / 5 s = 3.2 req/s), and windows above the
    # ceiling, which a closed loop cannot exceed.
    assert max(first_windows) - min(first_windows) == pytest.approx(USERS / WINDOW_S)
    assert max(first_windows) > ceiling


def test_staggered_users_are_counted_alike_by_both():
    phases = [1.0 + LATENCY_S * i / USERS for i in range(USERS)]
    by_shares, by_ends = rates(closed_loop(phases, first_edge=1.05))
    ceiling = USERS / LATENCY_S
    assert by_shares == pytest.approx([ceiling] * WINDOWS, rel=1e-5)
    assert by_ends == pytest.approx([ceiling] * WINDOWS, abs=2 / WINDOW_S)


def test_the_last_window_waits_for_the_requests_in_flight_at_its_edge():
    clock = Clock()
    recorder = Recorder(clock)
    recorder.mark(0)
    recorder.begin()
    clock.now = 1.0
    recorder.mark(None)
    assert not recorder.settled()
    clock.now = 1.5
    recorder.on_request(NAME, 1000.0)  # began at 0.5: half of it in the window
    assert recorder.settled()
    (window,) = recorder.report("local", "local").windows
    assert window.entries[NAME] == Entry(share=0.5)


def test_a_request_with_no_duration_counts_whole_where_it_ends():
    clock = Clock()
    recorder = Recorder(clock)
    recorder.mark(0)
    clock.now = 0.5
    recorder.on_request(NAME, 0.0)
    clock.now = 1.0
    recorder.mark(None)
    (window,) = recorder.report("local", "local").windows
    assert window.entries[NAME].share == 1.0
    assert window.entries[NAME].requests == 1
