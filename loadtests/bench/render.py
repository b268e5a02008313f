"""The benchmarks' Markdown: templates in ``templates/``, fed the measured values (the measuring
code formats no prose)."""

from __future__ import annotations

import jinja2

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("loadtests.bench"),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def markdown(template: str, macro: str | None = None, **values) -> str:
    """``template`` rendered with ``values``, or its ``macro`` called with them."""
    loaded = ENV.get_template(template)
    text = getattr(loaded.module, macro)(**values) if macro else loaded.render(**values)
    return str(text).rstrip("\n")
