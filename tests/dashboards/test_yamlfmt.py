from dashboards import yamlfmt


def test_mappings_sequences_and_scalars():
    document = {
        "name": "plain",
        "number": 1.5,
        "flag": True,
        "nothing": None,
        "empty": [],
        "items": [{"a": 1, "b": [1, 2]}, "x", ["nested"]],
    }
    assert yamlfmt.dump(document) == (
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


def test_strings_that_would_read_as_something_else_are_quoted():
    assert yamlfmt.dump({"a": "true"}) == 'a: "true"\n'
    assert yamlfmt.dump({"a": "1s"}) == 'a: "1s"\n'
    assert yamlfmt.dump({"a": "x: y"}) == 'a: "x: y"\n'
    assert yamlfmt.dump({"a": ""}) == 'a: ""\n'
    assert yamlfmt.dump({"a": "# no"}) == 'a: "# no"\n'
    assert yamlfmt.dump({"a": "{{ $value }}"}) == 'a: "{{ $value }}"\n'


def test_promql_keeps_its_double_quotes_readable():
    expr = """rate(x{a="b", c='d'}[1m])"""
    assert yamlfmt.dump({"expr": expr}) == """expr: 'rate(x{a="b", c=''d''}[1m])'\n"""


def test_multiline_strings_are_literal_blocks():
    assert yamlfmt.dump({"expr": "sum(x)\n/ y"}) == "expr: |-\n  sum(x)\n  / y\n"
