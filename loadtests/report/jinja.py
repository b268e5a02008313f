"""The templates' environment: strict, and escaping only in HTML; and the sentences' macros."""

from __future__ import annotations

import jinja2
from markupsafe import Markup

from loadtests.analysis.comparisons import label, rate

from .tables import _n, html_table, inline_code, markdown_table, number

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("loadtests.report"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
ENV.filters |= {
    "markdown_table": lambda table: markdown_table(*table),
    # Escaped where they are built: the template takes them as they are.
    "html_table": lambda table: Markup(html_table(*table)),
    "inline_code": lambda text: Markup(inline_code(text)),
    "fmt": lambda value, spec: format(_defined(value), spec),  # {{ x|fmt(",.0f") }}
    "rate": rate,
    "n": _n,
    "number": number,
    "label": label,
    # Prose wraps in its template: its lines joined by one space, markup kept as markup.
    "one_line": lambda text: type(text)(one_line(text)),
}


def _defined(value):
    """The value, or UndefinedError where a template was not given it (no figure goes blank)."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises
    return value


class Sentences:
    """A template's macros as functions returning plain one-line text: ``say.blocking(...)``.

    A macro's lines are stripped and joined by one space, so prose wraps in its file (the values
    it quotes keep their own spacing); the Python that calls it holds only the rule that chooses
    it, and the values.
    """

    def __init__(self, template: str) -> None:
        self._name = template

    def __getattr__(self, name: str):
        macro = getattr(ENV.get_template(self._name).module, name)
        return lambda *args, **values: one_line(macro(*args, **values))

    def module(self, **values):
        """The template's top-level variables (``{% set %}``), given these values."""
        return ENV.get_template(self._name).make_module(values)


def one_line(text: str) -> str:
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())
