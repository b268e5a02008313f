"""``python -m loadtests COMMAND ...``: the load tests' commands that are not the sweep's."""

from __future__ import annotations

import sys

from loadtests import compare

COMMANDS = {"compare": compare.main}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m loadtests {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
