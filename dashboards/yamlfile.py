"""YAML for the generated Prometheus files: PyYAML, in a stable, readable style.

Mappings keep the order given, sequences are indented under their key, nothing is folded, and a
string with line breaks (long PromQL) is written as a literal block.
"""

from __future__ import annotations

import yaml


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Sequences indented under their key ("key:\n  - item"), as Prometheus's own docs write.
        return super().increase_indent(flow, False)


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def dump(document: object) -> str:
    """``document`` as YAML text ending with a newline."""
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=1_000_000,
        allow_unicode=True,
    )
