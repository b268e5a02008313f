"""A small, deterministic YAML writer for the generated Prometheus and Grafana files.

Only what those files need: mappings (written in the order given), sequences, strings,
numbers, booleans and null. Strings that could be read as anything else are quoted: single
quotes when they hold double quotes (PromQL's label matchers), else double quotes with JSON's
escapes, which YAML's double-quoted style shares; strings with line breaks become
literal blocks, so long PromQL stays readable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./: -]*")
_RESERVED = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})


def dump(document: object) -> str:
    """``document`` as YAML text ending with a newline."""
    return "\n".join(_lines(document, 0)) + "\n"


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        plain = (
            _PLAIN.fullmatch(value)
            and value.lower() not in _RESERVED
            and not value.endswith((" ", ":"))
            and ": " not in value
            and " #" not in value
        )
        if plain:
            return value
        if value.isprintable() and value.isascii() and '"' in value:
            # Single quotes escape nothing but themselves: PromQL's double quotes stay readable.
            return "'" + value.replace("'", "''") + "'"
        return json.dumps(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _block(text: str, indent: int) -> list[str]:
    pad = " " * indent
    return ["|-", *(pad + line if line else "" for line in text.split("\n"))]


def _lines(value: object, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}"]
        lines = []
        for key, item in value.items():
            lines.extend(_entry(pad + f"{_scalar(str(key))}:", item, indent))
        return lines
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            return [pad + "[]"]
        lines = []
        for item in value:
            nested = _lines(item, indent + 2)
            if isinstance(item, Mapping | list | tuple) and item:
                # The first line of a nested block shares the dash: "- key: value".
                lines.append(pad + "- " + nested[0][indent + 2 :])
                lines.extend(nested[1:])
            elif isinstance(item, str) and "\n" in item:
                block = _block(item, indent + 2)
                lines.append(pad + "- " + block[0])
                lines.extend(block[1:])
            else:
                lines.append(pad + "- " + nested[0].lstrip())
        return lines
    return [pad + _scalar(value)]


def _entry(head: str, item: object, indent: int) -> list[str]:
    if isinstance(item, str) and "\n" in item:
        block = _block(item.rstrip("\n"), indent + 2)
        return [f"{head} {block[0]}", *block[1:]]
    if isinstance(item, Mapping | list | tuple) and item:
        return [head, *_lines(item, indent + 2)]
    return [f"{head} {_lines(item, 0)[0]}"]
