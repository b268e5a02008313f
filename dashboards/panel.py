"""A panel as the dashboards and the report both see it: title, unit and PromQL queries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .promql import Query


@dataclass(frozen=True, slots=True)
class Panel:
    key: str
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    kind: Literal["timeseries", "heatmap"] = "timeseries"

    @property
    def variables(self) -> frozenset[str]:
        """The dashboard variables its queries use (Grafana's own ``$__`` ones excluded)."""
        found = set()
        for query in self.queries:
            found.update(re.findall(r"\$(?!__)(\w+)", query.expr))
        return frozenset(found)
