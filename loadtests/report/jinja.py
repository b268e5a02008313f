"""The templates' environment: strict, and escaping only in HTML."""

from __future__ import annotations

import jinja2
from markupsafe import Markup

from .tables import html_table, inline_code, markdown_table

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
}
