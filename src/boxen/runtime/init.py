"""The container's side of ``create`` and ``exec``: what the forked processes do.

``boxen-runtime`` does not re-execute itself the way runc does (``runc init``): it forks, and
the child already holds the decided plan in memory. Two processes are forked, as
``boxen.runtime.sync`` draws:

**setup** (:func:`setup_stage`) joins the container's cgroup, then the user namespace (created
or joined; the parent writes the id maps), marks itself non-dumpable (so that no process in the
container can open its memory or ``/proc/<pid>/exe``, which is the host's Python), joins the
namespaces given by path and creates the new ones, and forks the **init** (a new pid namespace
only applies to children). It reports the init's pid and exits.

**init** (:func:`init_stage`) builds the root filesystem (``boxen.runtime.mounter``), sets the
hostname and sysctls, lets the parent run its hooks, switches root, sets up the terminal (while
/dev is still writable), locks the tree down (masked and read-only paths), then turns itself
into the container's process: session keyring, rlimits, every other descriptor closed, working
directory entered (``boxen.runtime.workdir``), program opened and checked
(``boxen.runtime.program``), capabilities bounding set, user and groups, the working directory
again if root could not enter it, capability sets, umask, no_new_privs, seccomp. It reports
*created* and waits on its socket until ``start`` connects (``boxen.runtime.startsocket``).
Then it runs the ``startContainer`` hooks and calls ``execveat``.

``exec`` (:func:`exec_setup_stage`) follows the same two stages, joining every namespace of the
running container instead of creating any.

**The host's interpreter stays out of reach.** Until ``execveat``, these processes *are* the
host's Python binary, and a process that can open ``/proc/<pid>/exe`` and write to it would
replace it for the whole host (runc's CVE-2019-5736). Three defences: the processes are
non-dumpable from before they enter the container's namespaces (the kernel then refuses other
processes access to their ``/proc/<pid>`` entries); every descriptor but stdio and
``--preserve-fds`` is closed before the working directory is entered
(``boxen.runtime.workdir``); and the program to run is opened and checked first, so that the
host interpreter itself, however it is named, is refused, and the file checked is the one
executed (``boxen.runtime.program``). A process of the container holding ``CAP_SYS_PTRACE``
passes the non-dumpable check: against it, those processes it can see run from a sealed
interpreter (``boxen.runtime.sealed``).
"""

from __future__ import annotations

import _signal

from boxen.common import posixos as os
from boxen.common.errors import (
    BoxenError,
    FailedPrecondition,
    InvalidArgument,
    KernelError,
    PermissionDenied,
    Unimplemented,
)
from boxen.common.record import Record
from boxen.runtime import capabilities, startsocket, sync
from boxen.runtime.linux import constants as C
from boxen.runtime.namespaces import FLAGS
from boxen.runtime.program import find_executable, open_program
from boxen.runtime.state import hook_state
from boxen.runtime.workdir import WorkingDirectory, close_descriptors, cwd_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.oci.runtime import Hooks
    from boxen.runtime.cgroups.manager import Manager
    from boxen.runtime.linux.kernel import Kernel
    from boxen.runtime.plan import ContainerPlan, ProcessPlan
    from boxen.runtime.sync import Channel

class InitContext(Record):
    """What the forked processes of ``create`` need, prepared by the parent before forking.

    A record: every field must be given, and a misspelt one is refused, so a child never finds
    None where its parent forgot to pass something.
    """

    kernel: Kernel
    plan: ContainerPlan
    channel: Channel
    ns_fds: dict[str, int]  # namespaces joined by path, opened by the parent
    start_fd: int  # the listening socket on which ``start`` comes (``boxen.runtime.startsocket``)
    cgroup: Manager
    cgroup_mounts: tuple[tuple[str, str], ...]
    cgroup_version: int
    console_fd: int | None  # the console socket (or the runtime's end of a pair) with a terminal
    preserve_fds: int
    interpreter: tuple[int, int]  # (st_dev, st_ino) of the runtime's interpreter: never run
    hooks: Hooks | None
    seccomp_program: bytes | None
    setgroups: bool
    idmap_fds: dict[str, int]  # user namespaces of idmapped mounts, by destination
    source_fds: dict[int, int]  # bind sources opened before a user namespace, by mount index
    cloned: bool  # made by clone(2) straight into its namespaces (no setup stage)
    join_cgroup: bool  # the init moves itself into its cgroup after GO


class ExecContext(Record):
    """What the forked processes of ``exec`` need (a record too: see :class:`InitContext`)."""

    kernel: Kernel
    process: ProcessPlan
    channel: Channel
    ns_fds: dict[str, int]  # the container's namespaces, by kind
    cgroup: Manager | None
    console_fd: int | None
    preserve_fds: int
    interpreter: tuple[int, int]
    setgroups: bool
    detach: bool
    container_id: str
    seccomp_program: bytes | None
    bundle: str


# --- the setup stage ------------------------------------------------------------------------------


def reset_signals() -> None:
    """Python ignores SIGPIPE and SIGXFSZ; ignored signals stay ignored across execve, so restore them."""
    for sig in (_signal.SIGPIPE, _signal.SIGXFSZ, _signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):
        _signal.signal(sig, _signal.SIG_DFL)


def setup_stage(ctx: InitContext) -> None:
    """Runs in the first child of ``create``; never returns."""
    try:
        reset_signals()
        k, plan, channel = ctx.kernel, ctx.plan, ctx.channel
        ctx.cgroup.join(0)
        _enter_user_namespace(ctx, k, channel, "user" in plan.new_kinds)
        k.prctl(C.PR_SET_DUMPABLE, 0)
        for kind, path in plan.joined:
            if kind != "user":
                k.setns(ctx.ns_fds[kind], FLAGS[kind], path)
        flags = plan.new_namespaces & ~(C.CLONE_NEWUSER | C.CLONE_NEWCGROUP)
        if flags:
            k.unshare(flags)
        if plan.time_offsets:
            _write("/proc/self/timens_offsets", "".join(f"{c} {s} {n}\n" for c, s, n in plan.time_offsets))
        pid = os.fork()
        if pid == 0:
            init_stage(ctx)
        channel.send(sync.INIT_PID, pid=pid)
        os._exit(0)
    except BaseException as exc:
        ctx.channel.send_error(exc)
        os._exit(1)


def _enter_user_namespace(ctx, k: Kernel, channel, new: bool) -> None:
    fd = ctx.ns_fds.get("user")
    if fd is not None:
        k.setns(fd, C.CLONE_NEWUSER, "user namespace")
    if new:
        k.unshare(C.CLONE_NEWUSER)
        channel.send(sync.USERNS_READY)
        channel.expect(sync.USERNS_MAPPED)
    if fd is not None or new:
        # Become root of the namespace (if root is mapped) so files are made as root inside.
        try:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        except OSError:
            pass


# --- the init stage ---------------------------------------------------------------------------------


def init_stage(ctx: InitContext) -> None:
    """Runs as the container's first process; becomes the user's program, or exits."""
    k, plan, channel = ctx.kernel, ctx.plan, ctx.channel
    try:
        awaiting_go = ctx.cloned
        join = None
        if ctx.cloned:
            # Cloned straight into its namespaces by the parent (and into its cgroup2
            # directory, where clone3 allows: Manager.clone_init), which now writes the user
            # namespace's maps and the cgroup's limits, then says GO. The parent puts this
            # process in its other cgroups before GO, or (join_cgroup) this process moves
            # itself after it, through files opened now, while the host's /sys/fs/cgroup is
            # in view.
            reset_signals()
            k.prctl(C.PR_SET_DUMPABLE, 0)
            if ctx.join_cgroup:
                join = ctx.cgroup.join_later()
            if "user" in plan.new_kinds:
                awaiting_go = _await_go(channel, become_root=True)
        from boxen.runtime.mounter import Mounter  # imported by the parent: see preload

        process = plan.process
        seccomp_program = ctx.seccomp_program
        host_pid = int(os.readlink("/proc/self"))
        notify = notify_target(process, hook_state(plan, "creating", host_pid)) if process is not None else None
        if plan.new_namespaces & C.CLONE_NEWCGROUP:
            if awaiting_go:  # the cgroup namespace is rooted at the cgroup the process is in
                awaiting_go = _await_go(channel, join=join)
            k.unshare(C.CLONE_NEWCGROUP)
        os.setsid()
        if process is not None and process.oom_score_adj is not None:
            _write("/proc/self/oom_score_adj", str(process.oom_score_adj))
        listener = ctx.start_fd
        in_userns = "user" in plan.new_kinds or any(kind == "user" for kind, _ in plan.joined)
        mounter = Mounter(k, plan.rootfs, in_userns=in_userns, cgroup_mounts=ctx.cgroup_mounts,
                          cgroup_version=ctx.cgroup_version,
                          new_cgroupns=bool(plan.new_namespaces & C.CLONE_NEWCGROUP), idmap_fds=ctx.idmap_fds,
                          source_fds=ctx.source_fds)
        # Without a mount namespace of its own the container cannot mount anything (it would
        # change the host's mounts): its root is only a chroot, as with runc.
        own_mounts = "mount" in plan.new_kinds or any(kind == "mount" for kind, _ in plan.joined)
        if own_mounts:
            mounter.prepare()
            if process is not None:
                _make_cwd(mounter, process.cwd)
        if plan.hostname is not None:
            k.sethostname(plan.hostname)
        if plan.domainname is not None:
            k.setdomainname(plan.domainname)
        for key, value in plan.sysctl:
            _write("/proc/sys/" + key.replace(".", "/"), value)
        hooks = ctx.hooks
        if hooks is not None and (hooks.prestart or hooks.createRuntime):
            if awaiting_go:  # the parent's hooks must find the init in its cgroup
                awaiting_go = _await_go(channel, join=join)
            channel.send(sync.HOOKS)
            channel.expect(sync.HOOKS_DONE)
        if hooks is not None and hooks.createContainer:
            from boxen.runtime import hooks as hook_runner

            hook_runner.run_all(hooks, "createContainer", hook_state(plan, "creating", host_pid),
                                cwd=plan.rootfs.rootfs)
        if own_mounts:
            mounter.switch_root()
        else:
            k.chroot(plan.rootfs.rootfs)
            os.chdir("/")
        if process is not None and process.terminal:
            # Before finalize, as runc does: /dev/console is made and mounted on while /dev
            # (or the root) is still writable; a read-only /dev becomes so in finalize.
            from boxen.runtime import console

            console.setup_in_container(k, ctx.console_fd, process.console_size, mount_console=own_mounts,
                                       uid=process.uid)
        if own_mounts:
            mounter.finalize()
        if plan.personality is not None:
            k.personality(plan.personality)
        if not plan.no_new_keyring:
            _join_keyring(k, f"_ses.{plan.id}")
        if awaiting_go:  # all the work above overlapped with the parent's cgroup writes
            awaiting_go = _await_go(channel, join=join)
        program = None
        if process is not None:
            program = prepare_process(k, process, ctx.interpreter, ctx.setgroups, ctx.preserve_fds,
                                      seccomp_program, notify, keep=(channel.fd, listener))
        channel.send(sync.CREATED)
    except BaseException as exc:
        channel.send_error(exc)
        os._exit(1)
    late_error = None  # where an error after ``create`` returned goes: ``start``'s connection
    try:
        late_error = startsocket.wait(listener)
        if program is None:
            raise FailedPrecondition("config.json has no process: there is nothing to start")
        if hooks is not None and hooks.startContainer:
            from boxen.runtime import hooks as hook_runner

            hook_runner.run_all(hooks, "startContainer", hook_state(plan, "created", host_pid))
        program.execute(k)
    except BaseException as exc:
        _report_late(exc, late_error)
        os._exit(1)


def _await_go(channel, become_root: bool = False, join=None) -> bool:
    """Wait for the parent's GO (maps written, limits written), then ``join`` the cgroup if given;
    returns False: no longer waiting."""
    channel.expect(sync.GO)
    if join is not None:
        join()
    if become_root:
        try:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        except OSError:
            pass
    return False


def preload(process: ProcessPlan | None, hooks=None, *, rootfs: bool = False) -> None:
    """Import, in the runtime before it forks, every module its children will run.

    Two reasons. After the root switch the host's Python library is out of reach. And a forked
    child shares its parent's memory copy-on-write: every page an import writes there (new
    objects, reference counts, the module table) is first copied, one page fault each, so the
    same import costs several times more after the fork than before it (measured here: the
    mounter, 2.2 ms in the init against 0.35 ms in the runtime).
    """
    if rootfs:
        from boxen.runtime import mounter  # noqa: F401
    if process is None:
        return
    if process.terminal:
        import fcntl  # noqa: F401
        import termios  # noqa: F401

        from boxen.runtime import console  # noqa: F401
    if process.seccomp is not None:
        from boxen.runtime.linux import seccomp  # noqa: F401
    if hooks is not None and hooks.startContainer:
        from boxen.runtime import hooks as hook_runner  # noqa: F401
    from boxen.common.errors import Unimplemented, kernel_error  # noqa: F401


def notify_target(process: ProcessPlan, state: dict):
    """For a filter with SCMP_ACT_NOTIFY: the agent's socket, connected now (its path is a host
    path, out of reach after the root switch), and the state to send with the notify fd."""
    # A plan with notify always has a listener path (plan_seccomp refuses one without).
    if process.seccomp is None or not process.seccomp.notify or process.seccomp.listener_path is None:
        return None
    from boxen.runtime import seccomp

    return seccomp.connect_listener(process.seccomp.listener_path), state


def load_seccomp(plan, program: bytes | None, notify) -> None:
    """Load the filter; hand a notify fd to the agent (the state's status says when it happened)."""
    from boxen.runtime import seccomp
    from boxen.runtime.linux import seccomp as seccomp_loader

    fd = seccomp_loader.load(plan, program)
    if fd is not None and notify is not None:
        sock, state = notify
        try:
            seccomp.send_notify_fd(sock, fd, state, plan.listener_metadata, plan.listener_path)
        finally:
            os.close(fd)
            os.close(sock)


def compile_seccomp(process: ProcessPlan | None) -> bytes | None:
    """The seccomp BPF program, compiled by libseccomp in the runtime, before it forks (see preload)."""
    if process is None or process.seccomp is None:
        return None
    from boxen.runtime.linux import seccomp as seccomp_loader

    return seccomp_loader.export_bpf(process.seccomp)


def _report_late(exc: BaseException, connection: int | None) -> None:
    """After ``create`` returned, nobody listens on the channel: answer ``start`` on its
    connection (see ``boxen.runtime.startsocket``) and write to the container's stderr."""
    message = str(exc) if isinstance(exc, BoxenError) else f"{type(exc).__name__}: {exc}"
    reports = [(2, f"boxen-runtime: container init failed: {message}\n")]
    if connection is not None:
        reports.insert(0, (connection, message))
    for fd, text in reports:
        try:
            os.write(fd, text.encode()[:startsocket.MAX_ERROR])
        except OSError:
            pass


def _make_cwd(mounter, cwd: str) -> None:
    """Create the working directory inside the rootfs if the image lacks it (as runc does)."""
    try:
        fd = mounter.make_in_root(cwd, "dir")
    except KernelError as exc:
        raise cwd_error(cwd, exc.errno) from None
    os.close(fd)


def _join_keyring(k: Kernel, name: str) -> None:
    from boxen.common.errors import Unimplemented

    try:
        k.join_session_keyring(name)
    except Unimplemented:
        pass  # kernels without keyrings (ENOSYS)


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        from boxen.common.errors import kernel_error

        raise kernel_error(exc.errno or 0, "write", path, value.strip()) from None
    finally:
        os.close(fd)


# --- becoming the container's process ----------------------------------------------------------------


class Program:
    """The checked executable and the final arguments for ``execveat``."""

    __slots__ = ("argv", "display", "env", "fd", "notify", "seccomp_plan", "seccomp_program")

    def __init__(self, fd: int, argv: list[str], env: list[str], seccomp_plan, seccomp_program: bytes | None,
                 notify, display: str) -> None:
        self.fd = fd
        self.argv = argv
        self.env = env
        self.seccomp_plan = seccomp_plan
        self.seccomp_program = seccomp_program
        self.notify = notify
        self.display = display

    def execute(self, k: Kernel, status: str = "running") -> None:
        """Load the late seccomp filter (if any) and replace this process. Returns only by raising."""
        if self.seccomp_plan is not None:
            notify = self.notify
            if notify is not None:
                notify = (notify[0], dict(notify[1], status=status))
            load_seccomp(self.seccomp_plan, self.seccomp_program, notify)
        try:
            k.execveat(self.fd, "", self.argv, self.env, C.AT_EMPTY_PATH, display=self.display)
        except (PermissionDenied, Unimplemented):
            # A seccomp profile that predates execveat: execve the same open file by its
            # descriptor's magic link (the file checked is still the file run).
            os.execve(f"/proc/self/fd/{self.fd}", self.argv, dict(e.split("=", 1) for e in self.env))


def prepare_process(k: Kernel, process: ProcessPlan, interpreter, setgroups: bool, preserve_fds: int,
                    seccomp_program: bytes | None = None, notify=None, keep: tuple[int, ...] = ()) -> Program:
    """Everything between "the container exists" and "exec": limits, identity, privileges, program.

    ``keep`` are the runtime's descriptors still needed until exec (the channel to the parent,
    the socket ``start`` comes on); every other one beyond stdio and ``--preserve-fds`` is
    closed before the working directory is entered (see ``boxen.runtime.workdir``). The
    seccomp filter is loaded here when it must be (without no_new_privs, loading needs
    CAP_SYS_ADMIN, so before capabilities are dropped), otherwise just before exec, so that as
    few of the runtime's own system calls as possible run under it.
    """
    _set_rlimits(k, process)
    if process.scheduling is not None:
        if process.scheduling.sched_attr is not None:
            k.sched_setattr(process.scheduling.sched_attr)
        if process.scheduling.ioprio is not None:
            k.ioprio_set(process.scheduling.ioprio)
    # Done before a seccomp filter is loaded: older profiles do not know close_range or openat2.
    close_descriptors(k, 3 + preserve_fds, keep + ((notify[0],) if notify is not None else ()))
    for extra in range(3, 3 + preserve_fds):
        try:
            os.set_inheritable(extra, True)
        except OSError:
            pass
    cwd = WorkingDirectory(k, process.cwd)
    cwd.enter(k, final=False)
    env = list(process.env)
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={home_of(process.uid)}")
    program_path = find_executable(process.args[0], env)
    fd, argv = open_program(program_path, list(process.args), interpreter)
    early_seccomp = process.seccomp is not None and not process.no_new_privileges
    if early_seccomp:
        load_seccomp(process.seccomp, seccomp_program, notify)
    _set_identity(k, process, setgroups)
    cwd.enter(k, final=True)
    os.umask(process.umask if process.umask is not None else 0o022)
    if process.no_new_privileges:
        k.prctl(C.PR_SET_NO_NEW_PRIVS, 1)
    late = process.seccomp if process.seccomp is not None and not early_seccomp else None
    return Program(fd, argv, env, late, seccomp_program, None if early_seccomp else notify, program_path)


def _set_rlimits(k: Kernel, process: ProcessPlan) -> None:
    for name, number, soft, hard in process.rlimits:
        try:
            k.setrlimit(number, soft, hard)
        except KernelError as exc:
            raise PermissionDenied(f"setrlimit {name} to {soft}/{hard}: {os.strerror(exc.errno)}",
                                   field="process.rlimits") from None


def _set_identity(k: Kernel, process: ProcessPlan, setgroups: bool) -> None:
    """Bounding set, then user and groups (keeping capabilities across setuid), then the sets."""
    caps = process.capabilities
    known = range(capabilities.last_cap() + 1) if caps is not None else range(0)  # read once, used twice
    if caps is not None:
        for number in known:
            if not caps.bounding >> number & 1:
                k.prctl(C.PR_CAPBSET_DROP, number)
    k.prctl(C.PR_SET_KEEPCAPS, 1)
    try:
        if setgroups:
            os.setgroups(list(process.additional_gids))
        os.setresgid(process.gid, process.gid, process.gid)
        os.setresuid(process.uid, process.uid, process.uid)
    except OSError as exc:
        raise PermissionDenied(f"cannot switch to uid {process.uid} gid {process.gid}: {os.strerror(exc.errno or 0)}",
                               field="process.user") from None
    k.prctl(C.PR_SET_KEEPCAPS, 0)
    if caps is None:
        return
    _, permitted, _ = k.capget()
    k.capset(caps.effective & permitted, caps.permitted & permitted, caps.inheritable & permitted)
    k.prctl(C.PR_CAP_AMBIENT, C.PR_CAP_AMBIENT_CLEAR_ALL)
    for number in known:
        if caps.ambient >> number & 1:
            try:
                k.prctl(C.PR_CAP_AMBIENT, C.PR_CAP_AMBIENT_RAISE, number)
            except (PermissionDenied, InvalidArgument):
                pass  # not in permitted and inheritable: the kernel refuses, and runc ignores it too


def home_of(uid: int, passwd: str = "/etc/passwd") -> str:
    """The home directory of ``uid`` in the container's /etc/passwd, or / (runc sets HOME so)."""
    try:
        with open(passwd, "rb") as f:
            for line in f:
                fields = line.decode(errors="replace").rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


# --- exec ------------------------------------------------------------------------------------------------


def exec_setup_stage(ctx: ExecContext) -> None:
    """First child of ``exec``: join the container, fork the process; never returns."""
    try:
        reset_signals()
        k, channel = ctx.kernel, ctx.channel
        notify = notify_target(ctx.process, {"ociVersion": "1.2.0", "id": ctx.container_id, "status": "running",
                                             "pid": os.getpid(), "bundle": ctx.bundle})
        k.prctl(C.PR_SET_DUMPABLE, 0)
        initial, final = ctx.process.cpu_affinity or (None, None)
        if initial:
            os.sched_setaffinity(0, initial)
        if ctx.cgroup is not None:
            ctx.cgroup.join(0)
        if final:
            os.sched_setaffinity(0, final)
        if "user" in ctx.ns_fds:
            k.setns(ctx.ns_fds["user"], C.CLONE_NEWUSER, "user namespace")
        for kind in ("ipc", "uts", "network", "pid", "cgroup", "time", "mount"):
            if kind in ctx.ns_fds:
                k.setns(ctx.ns_fds[kind], FLAGS[kind], kind)
        sync.close_all(list(ctx.ns_fds.values()))  # joined: the exec'd process needs none of them
        pid = os.fork()
        if pid == 0:
            exec_process_stage(ctx, notify)
        channel.send(sync.INIT_PID, pid=pid)
        os._exit(0)
    except BaseException as exc:
        ctx.channel.send_error(exc)
        os._exit(1)


def exec_process_stage(ctx: ExecContext, notify) -> None:
    """The exec'd process inside the container: set up, then execveat (which closes the channel).
    ``notify``: the seccomp agent's socket and state, connected by the setup stage, or None."""
    k, channel, process = ctx.kernel, ctx.channel, ctx.process
    try:
        if process.terminal:
            from boxen.runtime import console

            os.setsid()
            console.setup_in_container(k, ctx.console_fd, process.console_size, mount_console=False,
                                       uid=process.uid)
        elif ctx.detach:
            os.setsid()
        if process.oom_score_adj is not None:
            _write("/proc/self/oom_score_adj", str(process.oom_score_adj))
        if notify is not None:
            notify[1]["pid"] = os.getpid()  # the exec'd process, as its container sees it
        program = prepare_process(k, process, ctx.interpreter, ctx.setgroups, ctx.preserve_fds,
                                  ctx.seccomp_program, notify, keep=(channel.fd,))
        program.execute(k)
    except BaseException as exc:
        channel.send_error(exc)
        os._exit(1)

