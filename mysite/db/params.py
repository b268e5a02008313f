"""Query parameters of the database views: ``delay`` by the demo views' own rule, and ``rows``."""

from dataclasses import dataclass

from django.http import QueryDict

# One rule for every view: the demo's validators.
from mysite.demo.params import parse_delay, parse_whole_number, refuse_repeats

DEFAULT_ROWS = 10
MAX_ROWS = 100


@dataclass(frozen=True, slots=True)
class DbParams:
    delay: float
    rows: int


def parse(query: QueryDict) -> DbParams:
    """Read ``delay`` and ``rows``; raise ParameterError (a 400's reason) on any bad value."""
    refuse_repeats(query, ("delay", "rows"))
    return DbParams(
        delay=parse_delay(query.get("delay")),
        rows=parse_whole_number(query.get("rows"), "rows", DEFAULT_ROWS, MAX_ROWS),
    )
