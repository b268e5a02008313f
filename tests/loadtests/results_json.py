"""A results.json as its JSON (the file is the contract), after the sweep's loader accepted it."""

from __future__ import annotations

import json
from pathlib import Path

from loadtests.analysis import results


def load(path: Path) -> dict:
    results.load(path)  # validated against the records, as the report reads it
    return json.loads(Path(path).read_text())
