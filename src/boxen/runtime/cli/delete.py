"""delete: remove a stopped container (--force kills it first)."""

from boxen.common.flags import Flag
from boxen.runtime.cli import check_args

USAGE = "delete [command options] <container-id>"
FLAGS = (
    Flag("force,f", help="forcibly delete the container if it is still running (uses SIGKILL)"),
    Flag("help,h", help="show help"),
)


def run(g, opts, args) -> int:
    check_args("delete", args, exactly=1)
    g.runtime().delete(args[0], force=opts["force"])
    return 0
