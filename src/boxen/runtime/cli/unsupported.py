"""checkpoint and restore: need CRIU, which boxen-runtime does not drive."""

from boxen.common.errors import Unimplemented
from boxen.common.flags import Flag

USAGE = "checkpoint|restore [command options] <container-id>"
FLAGS = (Flag("help,h", help="show help"),)


def run(g, opts, args) -> int:
    raise Unimplemented(f"{g.command} needs CRIU, which boxen-runtime does not support", field=g.command)
