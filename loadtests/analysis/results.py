"""``results.json``: the sweep's one record, written again (atomically) after every cell.

Its shape is ``Results``, the run's one record, built from the records below it (``records``,
``capacity``, ``db_compare``); every write and every read is validated against it, and a file
from an older schema is migrated on read, so a report can be rebuilt from any run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import msgspec
from msgspec import field

from .capacity import CapacityEntry
from .db_compare import DbComparison
from .records import (
    SCHEMA_VERSION,
    Cell,
    InflightCost,
    Record,
    RunMeta,
    SlowClientsRun,
)


class Results(Record, kw_only=True):
    """results.json: the run's one record, from which the report is rendered alone."""

    schema_version: int
    meta: RunMeta
    cells: list[Cell]
    # Time-series panels, one group per cell (``loadtests.prometheus.panels``).
    panels: list[dict[str, Any]] | None = None
    # The capacity map (issue 12): one entry per configuration whose λ* was searched.
    capacity: list[CapacityEntry] = field(default_factory=list)
    # The server's life (issue 14), a phase of the full profile; absent from older runs.
    inflight: list[InflightCost] = field(default_factory=list)
    slow_clients: list[SlowClientsRun] = field(default_factory=list)
    # The database paths side by side on one server, in alternating windows (issue 13).
    db_comparison: DbComparison | None = None


def write(path: Path, results: Results) -> None:
    """Replace ``path`` atomically: a reader (or a Ctrl-C) never sees half a file."""
    data = msgspec.to_builtins(results)
    try:
        msgspec.convert(data, Results)  # what is written is what a reader accepts
    except msgspec.ValidationError as error:
        raise ValueError(f"not a results record: {error}") from None
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def load(path: Path) -> Results:
    try:
        return parse(json.loads(Path(path).read_text()))
    except (msgspec.ValidationError, TypeError, ValueError) as error:
        raise ValueError(f"{path} is not a sweep's results.json: {error}") from None


def parse(data: Any) -> Results:
    """A results.json's content as records, migrated from an older schema if need be."""
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    return msgspec.convert(migrate(data), Results)


def migrate(data: dict) -> dict:
    """The newest schema's form of a results.json of any version."""
    data = dict(data)
    if "schema_version" not in data:
        # Version 1 said its version in meta["schema"]; nothing else changed.
        meta = dict(data.get("meta") or {})
        meta.pop("schema", None)
        data = {"schema_version": 1, **data, "meta": meta}
    if data["schema_version"] > SCHEMA_VERSION:
        raise ValueError(f"schema_version {data['schema_version']} is newer than this code's")
    if data["schema_version"] < 4 and data.get("capacity"):
        data["capacity"] = [_realised_steps(entry) for entry in data["capacity"]]
    if data["schema_version"] < 5 and data.get("capacity"):
        data["capacity"] = [_send_latency(entry) for entry in data["capacity"]]
    if data["schema_version"] < 6:
        data["cells"] = [{"instrumentation": "lab", **cell} for cell in data.get("cells") or []]
        data["capacity"] = [_stack(entry) for entry in data.get("capacity") or []]
    data["schema_version"] = SCHEMA_VERSION
    return data


# Before schema 6 the cells ran the app as shipped (the lab's stack) and a capacity entry said
# what differed from it as its variant, in the overhead benchmark's names.
VARIANT_STACKS = {"": "lab", "this": "lab", "off": "none", "django-prometheus": "django-prometheus"}


def _stack(entry: dict) -> dict:
    stack = entry.get("instrumentation") or VARIANT_STACKS[entry.get("variant", "")]
    return {**entry, "instrumentation": stack}


def _realised_steps(entry: dict) -> dict:
    """Version 3 stored the rate a capacity step asked for as its offered_rps: it becomes
    target_rps, and offered_rps the realised rate (arrivals / paced seconds)."""
    steps = []
    for step in entry.get("steps") or []:
        step = dict(step)
        if "target_rps" not in step:
            paced = step.get("duration_s") or 0.0
            realised = step["scheduled"] / paced if paced > 0 else step["offered_rps"]
            step |= {"target_rps": step["offered_rps"], "offered_rps": round(realised, 3)}
        steps.append(step)
    return {**entry, "steps": steps}


def _send_latency(entry: dict) -> dict:
    """Version 4 kept a step's percentiles from the send as send_p50.. inside latency_ms: they
    become send_latency_ms, the same record as the intended start's."""
    steps = []
    for step in entry.get("steps") or []:
        latency = step.get("latency_ms") or {}
        send = {k.removeprefix("send_"): v for k, v in latency.items() if k.startswith("send_")}
        own = {k: v for k, v in latency.items() if not k.startswith("send_")}
        steps.append({**step, "latency_ms": own} | ({"send_latency_ms": send} if send else {}))
    return {**entry, "steps": steps}
