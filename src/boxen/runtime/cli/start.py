"""start: let a created container's process run."""

from boxen.common.flags import Flag
from boxen.runtime.cli import check_args

USAGE = "start <container-id>"
FLAGS = (Flag("help,h", help="show help"),)


def run(g, opts, args) -> int:
    check_args("start", args, exactly=1)
    g.runtime().start(args[0])
    return 0
