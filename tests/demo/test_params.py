import math

import pytest
from django.http import QueryDict

from mysite.demo.params import DEFAULT_DELAY, DEFAULT_FANOUT, ParameterError, Params, parse


def query(text: str) -> QueryDict:
    return QueryDict(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Params(DEFAULT_DELAY, DEFAULT_FANOUT, None)),
        ("delay=0", Params(0.0, DEFAULT_FANOUT, None)),
        ("delay=10", Params(10.0, DEFAULT_FANOUT, None)),
        ("delay=0.25", Params(0.25, DEFAULT_FANOUT, None)),
        ("delay=.5", Params(0.5, DEFAULT_FANOUT, None)),
        ("delay=1e-1", Params(0.1, DEFAULT_FANOUT, None)),
        ("delay=%2B2", Params(2.0, DEFAULT_FANOUT, None)),
        ("delay=-0", Params(0.0, DEFAULT_FANOUT, None)),
        ("fanout=1", Params(DEFAULT_DELAY, 1, None)),
        ("fanout=100", Params(DEFAULT_DELAY, 100, None)),
        ("task_id=abc", Params(DEFAULT_DELAY, DEFAULT_FANOUT, "abc")),
        ("task_id=" + "x" * 64, Params(DEFAULT_DELAY, DEFAULT_FANOUT, "x" * 64)),
        ("task_id=", Params(DEFAULT_DELAY, DEFAULT_FANOUT, "")),
        ("unrelated=whatever", Params(DEFAULT_DELAY, DEFAULT_FANOUT, None)),
    ],
)
def test_good_values_parse(text, expected):
    assert parse(query(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "delay=abc",
        "delay=",
        "delay=nan",
        "delay=NaN",
        "delay=inf",
        "delay=-inf",
        "delay=infinity",
        "delay=1e400",
        "delay=-1",
        "delay=-0.001",
        "delay=10.001",
        "delay=11",
        "delay=0x10",
        "delay=1_0",
        "delay=%201",
        "delay=1%20",
        "delay=" + "1" * 40,
        "delay=1&delay=2",
        "fanout=0",
        "fanout=101",
        "fanout=-1",
        "fanout=1.5",
        "fanout=abc",
        "fanout=",
        "fanout=1e2",
        "fanout=" + "9" * 5000,
        "fanout=1&fanout=2",
        "task_id=" + "x" * 65,
        "task_id=a&task_id=b",
    ],
)
def test_bad_values_are_client_errors(text):
    with pytest.raises(ParameterError) as raised:
        parse(query(text))
    assert str(raised.value)


def test_parsed_delay_is_finite_float():
    p = parse(query("delay=3.5"))
    assert isinstance(p.delay, float)
    assert math.isfinite(p.delay)


@pytest.mark.parametrize(
    "text", ["delay=\u0663", "fanout=\uff12", "delay=1.\u0665", "fanout=1\u0660"]
)
def test_digits_of_other_scripts_are_refused(text):
    with pytest.raises(ParameterError):
        parse(query(text))
