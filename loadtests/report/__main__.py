"""``python -m loadtests.report RUN_DIR``: render a run's report again, from its results.json."""

import sys

from . import render

if len(sys.argv) != 2:
    sys.exit("usage: python -m loadtests.report RUN_DIR")
print("\n".join(str(p) for p in render(sys.argv[1])))
