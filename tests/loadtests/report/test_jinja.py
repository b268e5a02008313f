"""The sentences' templates: a macro is one line of text, quoting its values as they are."""

from __future__ import annotations

from types import SimpleNamespace

import jinja2
import pytest

from loadtests.report.jinja import Sentences, one_line


def test_a_macro_is_one_line_and_keeps_its_values_spacing():
    meta = SimpleNamespace(pinning="cpus  0-1", target="http://127.0.0.1:8000")
    said = Sentences("sections.j2").pinning(meta)
    assert said == "Pinning: cpus  0-1. Target: http://127.0.0.1:8000."
    wrapped = Sentences("findings.j2").generator_cool(peak=17.4, threshold=90.0, one=True)
    assert "\n" not in wrapped
    assert wrapped == (
        "The load generator never passed 17% of a core (flagged above 90%), so it was not what "
        "limited this cell."
    )
    assert one_line("  a\n   b  \n\n c") == "a b c"


def test_a_missing_value_fails_rather_than_printing_nothing():
    with pytest.raises(jinja2.UndefinedError):
        Sentences("findings.j2").generator_cool(peak=17.4, one=True)
