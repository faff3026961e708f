"""exec: run another process inside a container.

The exit status is the process's own, so a failure of ``exec`` itself (no such container or
program, a bad ``--pid-file`` path, a paused container) exits 255, as runc's does: a caller
tells "the runtime could not run it" from "it ran and exited 1".
"""

from boxen.common.errors import BoxenError, InvalidArgument
from boxen.common.flags import Flag
from boxen.runtime.cli import check_args, fail

EXEC_FAILED = 255

INTERSPERSED = False  # what follows the id is the command and its own flags
USAGE = "exec [command options] <container-id> <command> [command options]  ||  -p process.json <container-id>"
FLAGS = (
    Flag("console-socket", "str", help="path to an AF_UNIX socket which will receive the pty master"),
    Flag("cwd", "str", help="current working directory in the container"),
    Flag("env,e", "list", help="set environment variables"),
    Flag("tty,t", help="allocate a pseudo-TTY"),
    Flag("user,u", "str", help="UID (format: <uid>[:<gid>])"),
    Flag("additional-gids,g", "list", help="additional gids"),
    Flag("process,p", "str", help="path to the process.json"),
    Flag("detach,d", help="detach from the container's process"),
    Flag("pid-file", "str", help="specify the file to write the process id to"),
    Flag("process-label", "str", help="set the asm process label for the process commonly used with selinux"),
    Flag("apparmor", "str", help="set the apparmor profile for the process"),
    Flag("no-new-privs", help="set the no new privileges value for the process"),
    Flag("cap,c", "list", help="add a capability to the bounding set for the process"),
    Flag("preserve-fds", "int", 0, help="pass N additional file descriptors to the container"),
    Flag("cgroup", "list", help="run the process in an (existing) sub-cgroup(s)"),
    Flag("ignore-paused", help="allow exec in a paused container"),
    Flag("help,h", help="show help"),
)


def _uint(text: str, field: str) -> int:
    if not text.isdigit():
        raise InvalidArgument(f"{text!r} is not a number", field=field)
    return int(text)


def build_process(state_process: dict, opts: dict, command: list[str]):
    """The exec'd process: --process whole, or the container's process with the flags applied."""
    from boxen.common import jsonio
    from boxen.common.schema import from_json
    from boxen.oci.runtime import Process

    if opts["process"]:
        try:
            with open(opts["process"], "rb") as f:
                data = jsonio.loads(f.read(), source=opts["process"])
        except OSError as exc:
            raise InvalidArgument(f"cannot read {opts['process']}: {exc.strerror}", field="--process") from None
        process = from_json(Process, data, "process")
        if not process.args:
            raise InvalidArgument("must hold at least the program to run", field="process.args")
        return process
    if not command:
        raise InvalidArgument("exec needs a command, or --process", field="command")
    p = dict(state_process)
    p["args"] = command
    p["terminal"] = opts["tty"]
    p.pop("consoleSize", None)
    if opts["cwd"]:
        p["cwd"] = opts["cwd"]
    if opts["env"]:
        p["env"] = list(p.get("env") or []) + opts["env"]
    user = dict(p.get("user") or {"uid": 0, "gid": 0})
    if opts["user"]:
        uid, _, gid = opts["user"].partition(":")
        user["uid"] = _uint(uid, "--user")
        if gid:
            user["gid"] = _uint(gid, "--user")
    if opts["additional_gids"]:
        user["additionalGids"] = [_uint(g, "--additional-gids") for g in opts["additional_gids"]]
    p["user"] = user
    if opts["cap"]:
        from boxen.runtime.capabilities import parse_name

        caps = dict(p.get("capabilities") or {})
        added = [parse_name(c, "--cap") for c in opts["cap"]]
        for kind in ("bounding", "effective", "permitted", "ambient"):
            caps[kind] = list(caps.get(kind) or []) + [c for c in added if c not in (caps.get(kind) or [])]
        p["capabilities"] = caps
    if opts["no_new_privs"]:
        p["noNewPrivileges"] = True
    if opts["apparmor"]:
        p["apparmorProfile"] = opts["apparmor"]
    if opts["process_label"]:
        p["selinuxLabel"] = opts["process_label"]
    return from_json(Process, p, "process")


def run(g, opts, args) -> int:
    check_args("exec", args, minimum=1)
    from boxen.runtime import sealed

    try:
        runtime = g.runtime()
        state = runtime.load(args[0])
        process = build_process(state.data.get("process") or {}, opts, args[1:])
        # the exec'd process joins the container as this interpreter: see sealed (checked first, so
        # that an exec that cannot start does not pay for a second interpreter)
        sealed.ensure()
        cgroup = opts["cgroup"] or None
        return runtime.exec(args[0], process, detach=opts["detach"], console_socket=opts["console_socket"],
                            pid_file=opts["pid_file"], preserve_fds=opts["preserve_fds"],
                            ignore_paused=opts["ignore_paused"], cgroup=cgroup)
    except BoxenError as exc:
        return fail(g, f"exec failed: {exc}", EXEC_FAILED)
