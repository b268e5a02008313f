"""``python -m loadtests COMMAND ...``: the load tests' commands that are not the sweep's.

- ``compare RUN_A RUN_B [--fail-if-slower PERCENT] [--json]``: ``loadtests.compare``;
- ``prediction [RUN ...]``: the async prediction (``loadtests.analysis.prediction``) beside each
  stored run's measured λ* (default: every run under docs/runs), and how close they came.
"""

from __future__ import annotations

import sys
from pathlib import Path

from loadtests import compare
from loadtests.analysis import prediction

STORED_RUNS = Path(__file__).resolve().parents[1] / "docs" / "runs"


def stored_checks(runs: list[Path]) -> list[prediction.Check]:
    return [check for run in runs for check in prediction.validate(compare.load(run))]


def prediction_check(argv: list[str]) -> int:
    runs = [Path(a) for a in argv] or sorted(STORED_RUNS.iterdir())
    checks = stored_checks(runs)
    for c in checks:
        basis = "" if c.basis == c.measured else f" (from {c.basis}, if async)"
        print(
            f"{c.measured}{basis}: predicted {c.predicted_rps:,.1f}/s ({c.binds}), "
            f"measured λ* {c.measured_rps:,.1f}/s, ratio {c.ratio:.2f}"
        )
    print(prediction.agreement(checks))
    return 0


COMMANDS = {"compare": compare.main, "prediction": prediction_check}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m loadtests {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
