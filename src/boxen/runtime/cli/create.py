"""create: make the container and leave its process waiting for ``start``."""

from boxen.common.flags import Flag
from boxen.runtime.cli import check_args

USAGE = "create [command options] <container-id>"
FLAGS = (
    Flag("bundle,b", "str", "", help="path to the root of the bundle directory, defaults to the current directory"),
    Flag("console-socket", "str", help="path to an AF_UNIX socket which will receive the pty master"),
    Flag("pid-file", "str", help="specify the file to write the process id to"),
    Flag("no-pivot", help="do not use pivot root to jail process inside rootfs"),
    Flag("no-new-keyring", help="do not create a new session keyring for the container"),
    Flag("preserve-fds", "int", 0, help="pass N additional file descriptors to the container"),
    Flag("explain", help="print what will be done, in plain words, to stderr"),
    Flag("dry-run", help="with --explain: stop after explaining"),
    Flag("help,h", help="show help"),
)


def explained(runtime, container_id: str, bundle: str, opts) -> bool:
    """``--explain``: print the plan; True when ``--dry-run`` says to stop there."""
    if not opts["explain"]:
        return False
    from boxen.runtime.explain import explain

    explain(runtime, container_id, bundle, opts)
    return opts["dry_run"]


def run(g, opts, args) -> int:
    check_args("create", args, exactly=1)
    from boxen.runtime import sealed

    sealed.ensure()  # so that an exec may join the container while its init waits: see sealed
    runtime = g.runtime()
    bundle = opts["bundle"] or "."
    if explained(runtime, args[0], bundle, opts):
        return 0
    runtime.create(args[0], bundle, console_socket=opts["console_socket"], pid_file=opts["pid_file"],
                   no_pivot=opts["no_pivot"], no_new_keyring=opts["no_new_keyring"],
                   preserve_fds=opts["preserve_fds"])
    return 0
