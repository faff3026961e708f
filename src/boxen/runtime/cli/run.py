"""run: create and start a container, wait for it, delete it, exit with its status."""

from boxen.common.errors import FailedPrecondition
from boxen.common.flags import Flag
from boxen.runtime.cli import check_args
from boxen.runtime.cli.create import FLAGS as CREATE_FLAGS
from boxen.runtime.cli.create import explained

USAGE = "run [command options] <container-id>"
FLAGS = CREATE_FLAGS + (
    Flag("detach,d", help="detach from the container's process"),
    Flag("keep", help="do not delete the container after it exits"),
)


def run(g, opts, args) -> int:
    check_args("run", args, exactly=1)
    runtime = g.runtime()
    bundle = opts["bundle"] or "."
    from boxen.runtime import sealed

    # A run re-executed sealed (below) explained itself before it did.
    if not sealed.reexecuted() and explained(runtime, args[0], bundle, opts):
        return 0
    try:
        return runtime.run(args[0], bundle, detach=opts["detach"], keep=opts["keep"],
                           console_socket=opts["console_socket"], pid_file=opts["pid_file"],
                           no_pivot=opts["no_pivot"], no_new_keyring=opts["no_new_keyring"],
                           preserve_fds=opts["preserve_fds"])
    except FailedPrecondition as exc:
        if isinstance(exc, sealed.Unsealed):  # no pid namespace of its own: the init is seen from inside
            sealed.reexec()
        raise
