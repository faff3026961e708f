"""resume: thaw a paused container."""

from boxen.common.flags import Flag
from boxen.runtime.cli import check_args

USAGE = "resume <container-id>"
FLAGS = (Flag("help,h", help="show help"),)


def run(g, opts, args) -> int:
    check_args("resume", args, exactly=1)
    g.runtime().resume(args[0])
    return 0
