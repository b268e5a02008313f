"""The generated Prometheus files' YAML: PyYAML in a stable style that reads back the same."""

import yaml

from dashboards import yamlfile


def test_mappings_sequences_and_scalars_round_trip_in_order():
    document = {
        "name": "plain",
        "number": 1.5,
        "flag": True,
        "nothing": None,
        "empty": [],
        "items": [{"a": 1, "b": [1, 2]}, "x", ["nested"]],
    }
    text = yamlfile.dump(document)
    assert text == (
        "name: plain\n"
        "number: 1.5\n"
        "flag: true\n"
        "nothing: null\n"
        "empty: []\n"
        "items:\n"
        "  - a: 1\n"
        "    b:\n"
        "      - 1\n"
        "      - 2\n"
        "  - x\n"
        "  - - nested\n"
    )
    assert yaml.safe_load(text) == document


def test_strings_that_would_read_as_something_else_stay_strings():
    tricky = ["true", "1s", "x: y", "", "# no", "{{ $value }}", "1.0", "null", "on"]
    document = {f"k{i}": value for i, value in enumerate(tricky)}
    assert yaml.safe_load(yamlfile.dump(document)) == document


def test_promql_stays_on_one_line_and_multi_line_text_is_a_literal_block():
    expr = """histogram_quantile(0.99, sum by (le) (rate(x{a="b", c='d'}[1m])))""" * 3
    assert yamlfile.dump({"expr": expr}).count("\n") == 1, "never folded"
    assert yaml.safe_load(yamlfile.dump({"expr": expr})) == {"expr": expr}
    assert yamlfile.dump({"expr": "sum(x)\n/ y"}) == "expr: |-\n  sum(x)\n  / y\n"
