"""docs/METRICS.md's table of the app's metrics: generated from the instruments themselves
(name, type, labels, help text) and from the panels and recording rules that read each one."""

from __future__ import annotations

import re

from prometheus_client.metrics import MetricWrapperBase

from mysite.metrics import instruments
from mysite.metrics import names as n

from . import grafana, rules

# Labels a scrape adds to a metric in multi-process mode, beside its own.
ADDED_LABELS = {n.LOOP_LAG_MAX: (n.PID,)}


def _readers(metric: str) -> tuple[list[str], list[str]]:
    """Titles of the dashboard panels, and names of the recording rules, that read ``metric``."""
    panels = sorted(
        {
            f"`{spec.uid}`: {panel.title}"
            for spec in (make() for make in grafana.DASHBOARDS)
            for panel in spec.panels()
            if any(metric in _metric_names(q.expr) for q in panel.queries)
        }
    )
    recorded = [
        rule["record"] for rule in rules.recording_rules() if metric in _metric_names(rule["expr"])
    ]
    return panels, sorted(set(recorded))


def _metric_names(expr: str) -> set[str]:
    """Every base metric an expression reads (``_bucket``/``_count``/``_sum`` stripped)."""
    words = set(re.findall(r"[a-z_][a-z0-9_]*", expr))
    return words | {w.rsplit("_", 1)[0] for w in words if w.endswith(("_bucket", "_count", "_sum"))}


def database_values() -> str:
    """The database metrics' label values, from the code that sets them."""
    from mysite.db import instrumentation as db  # Django's settings must be configured
    from mysite.db.databases import POOL_NAMES

    errors = (db.POOL_TIMEOUT, db.CONNECTION_ERROR, db.STATEMENT_TIMEOUT, db.CONNECTION_LOST)
    return (
        f"Database pools (`{n.DB_POOL}`), one per path: "
        + ", ".join(f"`{name}`" for name in POOL_NAMES.values())
        + f". `{n.ERROR_TYPE}` of a database query: empty when it succeeded, else "
        + ", ".join(f"`{e}`" for e in (*errors, db.DATABASE_ERROR))
        + "."
    )


def metrics_table() -> str:
    rows = [
        "| metric | type | labels | what | dashboards' panels | recording rules |",
        "|---|---|---|---|---|---|",
    ]
    for value in vars(instruments).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        labels = (*value._labelnames, *ADDED_LABELS.get(value._name, ()))
        panels, recorded = _readers(value._name)
        rows.append(
            f"| `{value._name}` | {value._type} | "
            + (", ".join(f"`{label}`" for label in labels) or "none")
            + f" | {value._documentation} | "
            + ("; ".join(panels) or "none")
            + " | "
            + (", ".join(f"`{r}`" for r in recorded) or "none")
            + " |"
        )
    return "\n".join(rows) + "\n\n" + database_values()
