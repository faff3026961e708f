"""state: print the container's state as JSON."""

import sys

from boxen.common import jsonio
from boxen.common.flags import Flag
from boxen.runtime.cli import check_args

USAGE = "state <container-id>"
FLAGS = (Flag("help,h", help="show help"),)


def run(g, opts, args) -> int:
    check_args("state", args, exactly=1)
    sys.stdout.write(jsonio.dumps(g.runtime().state(args[0]), indent=2) + "\n")
    return 0
