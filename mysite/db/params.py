"""Query parameters of the database views: ``delay`` by the demo views' own rule, and ``rows``."""

from dataclasses import dataclass

from django.http import QueryDict

# One rule for every view: the demo's validators (delay's form and range, the integer form).
from mysite.demo.params import _INTEGER, ParameterError, _parse_delay

DEFAULT_ROWS = 10
MAX_ROWS = 100


@dataclass(frozen=True, slots=True)
class DbParams:
    delay: float
    rows: int


def parse(query: QueryDict) -> DbParams:
    """Read ``delay`` and ``rows``; raise ParameterError (a 400's reason) on any bad value."""
    for name in ("delay", "rows"):
        if len(query.getlist(name)) > 1:
            raise ParameterError(f"{name} is given more than once")
    return DbParams(delay=_parse_delay(query.get("delay")), rows=_parse_rows(query.get("rows")))


def _parse_rows(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_ROWS
    if not _INTEGER.fullmatch(raw):
        raise ParameterError("rows must be a whole number")
    value = int(raw)
    if not 1 <= value <= MAX_ROWS:
        raise ParameterError(f"rows must be between 1 and {MAX_ROWS}")
    return value
