"""The base of every record that is written to a file or crosses a process (msgspec structs)."""

from __future__ import annotations

from msgspec import Struct


class Record(Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A typed record: a misspelt or unknown key is an error, not silently dropped.

    A field left at its default (None, mostly) is not written: a failed cell holds the plan's
    fields and its error, not forty nulls.
    """
