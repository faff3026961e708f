"""pause: freeze every process of the container (cgroup freezer)."""

from boxen.common.flags import Flag
from boxen.runtime.cli import check_args

USAGE = "pause <container-id>"
FLAGS = (Flag("help,h", help="show help"),)


def run(g, opts, args) -> int:
    check_args("pause", args, exactly=1)
    g.runtime().pause(args[0])
    return 0
