"""boxen-runtime: the runc-compatible command line (see ``main``)."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("boxen-runtime: not built yet", file=sys.stderr)
    return 1
