"""The steady-state rule and the windows' and sub-windows' lengths."""

from loadtests.analysis import steady


def test_steady_rule():
    assert not steady.is_steady([(100, 200), (100, 200)]), "too few sub-windows"
    assert steady.is_steady([(10, 900), (100, 200), (102, 201), (98, 199)])
    assert not steady.is_steady([(60, 200), (80, 200), (100, 200)]), "rate still rising"
    assert not steady.is_steady([(100, 200), (100, 260), (100, 200)]), "median jumped"
    assert not steady.is_steady([(100, None), (100, 200), (100, 200)])
    assert steady.window_s(2.0, 160) == 2.0
    assert steady.window_s(1.0, 200) == 1.5
    assert steady.window_s(1.0, 5) == steady.WINDOW_MAX_S
    assert steady.subwindow_s(32, 160) == 0.5
    assert steady.subwindow_s(32, 40) == 1.25, "50 requests at 40 req/s"
    assert steady.subwindow_s(100, 10) == 10.0, "one expected latency"
