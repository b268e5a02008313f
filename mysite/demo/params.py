"""Query parameters of the demo views, validated strictly: any bad value is a client error.

Imports no more of Django than it needs at run time: the launcher reads ``MAX_DELAY`` (through
``mysite.bounds``) before it becomes the server, and django.http would cost it half a second.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import TooManyFieldsSent

if TYPE_CHECKING:
    from django.http import HttpRequest, QueryDict

DEFAULT_DELAY = 1.0
MAX_DELAY = 10.0
DEFAULT_FANOUT = 10
MAX_FANOUT = 100
MAX_TASK_ID_LENGTH = 64

# Plain decimal notation only: no "nan", "inf", "0x10", "1_0" or surrounding spaces, which
# float() would accept. The length cap keeps parsing cheap whatever a client sends.
# ASCII digits only: ``\d`` also matches other scripts' digits (Arabic-Indic, full-width),
# which float() and int() accept.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
_INTEGER = re.compile(r"\+?[0-9]{1,6}")
_MAX_NUMBER_LENGTH = 32


class ParameterError(ValueError):
    """A query parameter is missing its form or range; the message is safe to show the client."""


@dataclass(frozen=True, slots=True)
class Params:
    delay: float = DEFAULT_DELAY
    fanout: int = DEFAULT_FANOUT
    task_id: str | None = None


def query_of(request: HttpRequest) -> QueryDict:
    """The request's query; ParameterError when Django refuses to parse it (too many fields)."""
    try:
        return request.GET
    except TooManyFieldsSent:
        raise ParameterError("the query has too many fields") from None


def parse(query: QueryDict) -> Params:
    """Read ``delay``, ``fanout`` and ``task_id``; raise ParameterError on any bad value."""
    refuse_repeats(query, ("delay", "fanout", "task_id"))
    return Params(
        delay=parse_delay(query.get("delay")),
        fanout=parse_whole_number(query.get("fanout"), "fanout", DEFAULT_FANOUT, MAX_FANOUT),
        task_id=_parse_task_id(query.get("task_id")),
    )


def refuse_repeats(query: QueryDict, names: tuple[str, ...]) -> None:
    """A parameter given twice is ambiguous: refuse it rather than pick one."""
    for name in names:
        if len(query.getlist(name)) > 1:
            raise ParameterError(f"{name} is given more than once")


def parse_delay(raw: str | None) -> float:
    """``delay`` in seconds: plain decimal notation, 0 to MAX_DELAY, DEFAULT_DELAY when absent."""
    if raw is None:
        return DEFAULT_DELAY
    if len(raw) > _MAX_NUMBER_LENGTH or not _DECIMAL.fullmatch(raw):
        raise ParameterError("delay must be a number of seconds")
    value = float(raw)
    if not math.isfinite(value) or not 0 <= value <= MAX_DELAY:
        raise ParameterError(f"delay must be between 0 and {MAX_DELAY:g} seconds")
    return value


def parse_whole_number(raw: str | None, name: str, default: int, maximum: int) -> int:
    """A whole number from 1 to ``maximum`` in ASCII digits, ``default`` when absent."""
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        raise ParameterError(f"{name} must be a whole number")
    value = int(raw)
    if not 1 <= value <= maximum:
        raise ParameterError(f"{name} must be between 1 and {maximum}")
    return value


def _parse_task_id(raw: str | None) -> str | None:
    if raw is not None and len(raw) > MAX_TASK_ID_LENGTH:
        raise ParameterError(f"task_id must be at most {MAX_TASK_ID_LENGTH} characters")
    return raw
