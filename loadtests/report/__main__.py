"""``python -m loadtests.report RUN_DIR``: render a run's report again, from its results.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.report",
        description="Render summary.md and report.html again from a run's results.json.",
    )
    parser.add_argument("run_dir", type=Path, help="a run directory holding results.json")
    args = parser.parse_args(argv)
    if not (args.run_dir / "results.json").is_file():
        parser.error(f"{args.run_dir / 'results.json'} does not exist")
    print("\n".join(str(p) for p in render(args.run_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
