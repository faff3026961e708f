"""kill: send a signal (default SIGTERM) to the container's init, or --all of its processes."""

from boxen.common.flags import Flag
from boxen.runtime.cli import check_args
from boxen.runtime.cli.signals import parse as parse_signal

USAGE = "kill [command options] <container-id> [signal]"
FLAGS = (
    Flag("all,a", help="send the specified signal to all processes inside the container"),
    Flag("help,h", help="show help"),
)


def run(g, opts, args) -> int:
    check_args("kill", args, minimum=1)
    if len(args) > 2:
        check_args("kill", args, exactly=2)
    signal = parse_signal(args[1]) if len(args) == 2 else 15
    g.runtime().kill(args[0], signal, all_processes=opts["all"])
    return 0
