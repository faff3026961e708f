"""The system calls that build a container, one thin method each.

A container is an ordinary process that the kernel has been asked to treat differently:
``unshare``/``setns`` give it its own namespaces (its own view of mounts, pids, hostname,
network...), ``mount`` and ``pivot_root`` give it its own root filesystem, ``capset`` and
``prctl`` take privileges away, and ``execveat`` finally replaces the runtime with the
container's program. Python's ``os`` module covers the rest (``setresuid``, ``setgroups``,
``mknod``, ``chroot``); ``setrlimit`` is bound here too, from the C library already loaded,
rather than through the ``resource`` extension module.

:class:`Kernel` is the only object that makes these calls; the runtime's executors receive it
as a parameter, so unit tests can pass the recording ``FakeKernel`` from
``boxen.runtime.linux.fake`` instead. Every failure raises a classified
:class:`~boxen.common.errors.KernelError` carrying errno, syscall and path.
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.runtime.linux import constants as C
from boxen.runtime.linux.libc import (
    Library,
    buffer,
    buffer_from,
    c_char_p,
    c_int,
    c_long,
    c_ulong,
    c_void_p,
    check,
    libc,
    syscall,
)

_unshare = libc.function("unshare", c_int, c_int)
_setns = libc.function("setns", c_int, c_int, c_int)
_mount = libc.function("mount", c_int, c_char_p, c_char_p, c_char_p, c_ulong, c_char_p)
_umount2 = libc.function("umount2", c_int, c_char_p, c_int)
_sethostname = libc.function("sethostname", c_int, c_char_p, c_ulong)
_setdomainname = libc.function("setdomainname", c_int, c_char_p, c_ulong)
_prctl = libc.function("prctl", c_int, c_int, c_ulong, c_ulong, c_ulong, c_ulong)
_capget = libc.function("capget", c_int, c_void_p, c_void_p)
_capset = libc.function("capset", c_int, c_void_p, c_void_p)
_personality = libc.function("personality", c_int, c_ulong)
_setrlimit = libc.function("setrlimit", c_int, c_int, c_void_p)
_socketpair = libc.function("socketpair", c_int, c_int, c_int, c_int, c_void_p)
_ioctl_int = libc.function("ioctl", c_int, c_int, c_ulong, c_void_p)


# clone(2) and clone3(2) used like fork(2), with namespace flags: the interpreter's fork hooks
# around them.
_python = Library(None)
_before_fork = _python.function("PyOS_BeforeFork", None, hold_gil=True)
_after_fork_parent = _python.function("PyOS_AfterFork_Parent", None, hold_gil=True)
_after_fork_child = _python.function("PyOS_AfterFork_Child", None, hold_gil=True)
_clone = libc.function("syscall", c_long, c_long, c_ulong, c_void_p, c_void_p, c_void_p, c_void_p, hold_gil=True)
_clone3 = libc.function("syscall", c_long, c_long, c_void_p, c_ulong, hold_gil=True)
_SIGCHLD = 17
#: clone3's ``struct clone_args`` up to ``cgroup`` (CLONE_ARGS_SIZE_VER2, Linux 5.7): eleven u64.
_CLONE_ARGS_SIZE = 88


def single_threaded() -> bool:
    """Is the calling process's only thread the one running? (``/proc/self/task`` lists them.)

    Counts every thread, those an extension started in C included, which ``threading`` does
    not see; a directory listing costs some microseconds and imports nothing.
    """
    return len(os.listdir("/proc/self/task")) == 1


def _enc(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def _fs_log(fs_fd: int) -> str:
    """The messages a file system context logged (``e overlay: ...``), one per read(2)."""
    lines: list[str] = []
    while len(lines) < 8:
        try:
            lines.append(os.read(fs_fd, 1024).decode(errors="replace"))
        except OSError:
            break
    return "; ".join(lines)


def _strings(items: list[str]):
    array = (c_char_p * (len(items) + 1))()
    for i, item in enumerate(items):
        array[i] = os.fsencode(item)
    return array


class Kernel:
    """Real system calls. Methods raise KernelError; none returns an error code."""

    # --- processes and namespaces -------------------------------------------------------------

    def clone(self, flags: int, cgroup_fd: int | None = None) -> int:
        """``fork`` into new namespaces (``CLONE_NEW*`` flags): 0 in the child, its pid in the parent.

        One system call where ``unshare`` + ``fork`` take two processes: the child is born in
        the new namespaces (pid 1 of a new pid namespace). With ``cgroup_fd`` (a descriptor of
        a cgroup2 directory) it is ``clone3`` with ``CLONE_INTO_CGROUP`` (Linux 5.7): the
        child is also born in that cgroup, so nobody has to move it there (a move on cgroup2
        waits for an RCU grace period). On a kernel without it, the KernelError
        says ENOSYS (no clone3) or E2BIG (a clone3 without the ``cgroup`` field).

        The interpreter's own fork hooks run around it, as ``os.fork`` runs them, but the C
        library's do not: its ``fork`` takes the malloc arenas' locks and runs the atfork
        handlers so that a child of a threaded process finds no lock held by a thread that
        does not exist there. A raw clone in a process with other threads could leave the
        child hanging on such a lock, so the rule is **single-threaded callers only**: a
        process with another thread gets FailedPrecondition, before anything is forked (a
        threaded caller uses ``os.fork`` and then ``unshare``, as ``create``'s two-stage path
        does).
        """
        from boxen.runtime.linux.libc import SYSCALLS

        if not single_threaded():
            from boxen.common.errors import FailedPrecondition

            raise FailedPrecondition("clone(2) without the C library's fork handling needs a single-threaded "
                                     "process, and this one has other threads; use os.fork, then unshare")
        if cgroup_fd is None:
            _before_fork()
            pid = _clone(SYSCALLS["clone"], flags | _SIGCHLD, None, None, None, None)
            name, detail = "clone", f"flags {flags:#x}"
        else:
            # struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal, stack,
            # stack_size, tls, set_tid, set_tid_size, cgroup. No stack: the child runs on a
            # copy of ours, as after fork.
            fields = (flags | C.CLONE_INTO_CGROUP, 0, 0, 0, _SIGCHLD, 0, 0, 0, 0, 0, cgroup_fd)
            args = buffer_from(b"".join(v.to_bytes(8, "little") for v in fields))
            _before_fork()
            pid = _clone3(SYSCALLS["clone3"], args, _CLONE_ARGS_SIZE)
            name, detail = "clone3", f"flags {flags:#x}, CLONE_INTO_CGROUP"
        if pid == 0:
            _after_fork_child()
            return 0
        _after_fork_parent()
        return check(pid, name, detail=detail)

    def unshare(self, flags: int) -> None:
        check(_unshare(flags), "unshare", detail=f"flags {flags:#x}")

    def setns(self, fd: int, nstype: int, path: str | None = None) -> None:
        check(_setns(fd, nstype), "setns", path)

    # --- mounts ----------------------------------------------------------------------------------

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None,
              *, display: str | None = None) -> None:
        """mount(2). ``display`` names the target in errors when ``target`` is a /proc/self/fd link."""
        check(_mount(_enc(source), _enc(target), _enc(fstype), flags, _enc(data)), "mount", display or target,
              f"type {fstype}" if fstype else "")

    def umount(self, target: str, flags: int = 0) -> None:
        check(_umount2(_enc(target), flags), "umount2", target)

    def mount_setattr(self, dirfd: int, path: str, flags: int, attr_set: int, attr_clear: int = 0,
                      userns_fd: int = 0, *, display: str | None = None) -> None:
        """mount_setattr(2): change attributes of a mount (and, with AT_RECURSIVE, those below it)."""
        attr = buffer_from(attr_set.to_bytes(8, "little") + attr_clear.to_bytes(8, "little") + bytes(8)
                           + userns_fd.to_bytes(8, "little"))
        syscall("mount_setattr", dirfd, os.fsencode(path), flags, attr, 32, path=display or path)

    def open_tree(self, dirfd: int, path: str, flags: int, *, display: str | None = None) -> int:
        """open_tree(2): a descriptor for the mount at ``path`` (a detached copy with OPEN_TREE_CLONE)."""
        return syscall("open_tree", dirfd, os.fsencode(path), flags, path=display or path)

    def move_mount(self, from_fd: int, to_fd: int, flags: int, *, display: str | None = None) -> None:
        """move_mount(2) with empty paths: attach the detached mount ``from_fd`` on ``to_fd``."""
        syscall("move_mount", from_fd, b"", to_fd, b"", flags, path=display)

    def fsopen(self, fstype: str) -> int:
        """fsopen(2): a file system context for ``fstype``, to be set up with :meth:`fsconfig`."""
        return syscall("fsopen", os.fsencode(fstype), C.FSOPEN_CLOEXEC, path=fstype)

    def fsconfig(self, fs_fd: int, cmd: int, key: str | None = None, value: str | None = None, *,
                 display: str | None = None) -> None:
        """fsconfig(2): one parameter (``FSCONFIG_SET_FLAG``/``_STRING``), or ``FSCONFIG_CMD_CREATE``.

        An error carries what the file system wrote into the context's message log.
        """
        from boxen.common.errors import KernelError, kernel_error

        try:
            syscall("fsconfig", fs_fd, cmd, _enc(key), _enc(value), 0, path=display)
        except KernelError as exc:
            raise kernel_error(exc.errno, "fsconfig", display, _fs_log(fs_fd) or (key or "")) from None

    def fsmount(self, fs_fd: int, attr_flags: int = 0) -> int:
        """fsmount(2): a detached mount of the created context (attach it with :meth:`move_mount`)."""
        return syscall("fsmount", fs_fd, C.FSMOUNT_CLOEXEC, attr_flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        syscall("pivot_root", os.fsencode(new_root), os.fsencode(put_old), path=new_root)

    def chroot(self, path: str) -> None:
        try:
            os.chroot(path)
        except OSError as exc:
            raise _from_os(exc, "chroot", path) from None

    def openat2(self, dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0,
                *, display: str | None = None) -> int:
        """openat2(2): open ``path`` relative to ``dirfd`` under the ``resolve`` restrictions."""
        how = buffer_from(flags.to_bytes(8, "little") + mode.to_bytes(8, "little") + resolve.to_bytes(8, "little"))
        return syscall("openat2", dirfd, os.fsencode(path), how, 24, path=display or path)

    # --- identity and privileges --------------------------------------------------------------------

    def sethostname(self, name: str) -> None:
        data = name.encode()
        check(_sethostname(data, len(data)), "sethostname", detail=name)

    def setdomainname(self, name: str) -> None:
        data = name.encode()
        check(_setdomainname(data, len(data)), "setdomainname", detail=name)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        return check(_prctl(option, arg2, arg3, arg4, arg5), "prctl", detail=f"option {option}")

    def capget(self, pid: int = 0) -> tuple[int, int, int]:
        """The (effective, permitted, inheritable) capability masks of ``pid`` (0: this thread)."""
        header = buffer_from(C.LINUX_CAPABILITY_VERSION_3.to_bytes(4, "little") + pid.to_bytes(4, "little", signed=True))
        data = buffer(24)
        check(_capget(header, data), "capget")
        raw = data.raw
        words = [int.from_bytes(raw[i : i + 4], "little") for i in range(0, 24, 4)]
        return (words[0] | words[3] << 32, words[1] | words[4] << 32, words[2] | words[5] << 32)

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        """Set this thread's effective, permitted and inheritable capability masks."""
        header = buffer_from(C.LINUX_CAPABILITY_VERSION_3.to_bytes(4, "little") + bytes(4))
        # Two {effective, permitted, inheritable} structs: the low 32 bits, then the high 32.
        raw = b"".join(
            (v & 0xFFFFFFFF).to_bytes(4, "little")
            for v in (effective, permitted, inheritable, effective >> 32, permitted >> 32, inheritable >> 32)
        )
        check(_capset(header, buffer_from(raw)), "capset")

    def sched_setattr(self, attr: bytes) -> None:
        """sched_setattr(2) on this thread with a packed ``struct sched_attr``."""
        syscall("sched_setattr", 0, buffer_from(attr), 0)

    def ioprio_set(self, value: int) -> None:
        """ioprio_set(IOPRIO_WHO_PROCESS, this process, value)."""
        syscall("ioprio_set", 1, 0, value)

    def personality(self, persona: int) -> None:
        check(_personality(persona), "personality", detail=f"{persona:#x}")

    def socketpair(self, domain: int, kind: int) -> tuple[int, int]:
        """socketpair(2): two connected sockets, as descriptors (no ``socket`` objects)."""
        fds = buffer(8)
        check(_socketpair(domain, kind, 0, fds), "socketpair")
        raw = fds.raw
        return int.from_bytes(raw[:4], "little"), int.from_bytes(raw[4:], "little")

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        """setrlimit(2): a ``struct rlimit`` is two 64-bit counts; 2**63 or more means unlimited."""
        raw = b"".join((C.RLIM_INFINITY if v >= 2**63 else v).to_bytes(8, "little") for v in (soft, hard))
        check(_setrlimit(resource, buffer_from(raw)), "setrlimit", detail=f"resource {resource}")

    def join_session_keyring(self, name: str | None) -> None:
        """keyctl(KEYCTL_JOIN_SESSION_KEYRING): a new session keyring, so containers don't share keys."""
        syscall("keyctl", C.KEYCTL_JOIN_SESSION_KEYRING, _enc(name))

    # --- terminals -----------------------------------------------------------------------------------

    def ioctl(self, fd: int, request: int, arg: object = None) -> int:
        return check(_ioctl_int(fd, request, arg), "ioctl", detail=f"request {request:#x}")

    # --- file descriptors and exec ---------------------------------------------------------------------

    def close_range(self, first: int, last: int, flags: int = 0) -> None:
        syscall("close_range", first, last, flags)

    def execveat(self, dirfd: int, path: str, argv: list[str], envp: list[str], flags: int = 0,
                 *, display: str | None = None) -> None:
        """Replace this process with the program at ``dirfd``/``path``; returns only by raising."""
        syscall("execveat", dirfd, os.fsencode(path), _strings(argv), _strings(envp), flags, path=display or path)

    def pidfd_send_signal(self, pidfd: int, sig: int) -> None:
        syscall("pidfd_send_signal", pidfd, sig, None, 0)


def _from_os(exc: OSError, syscall_name: str, path: str | None):
    from boxen.common.errors import kernel_error

    return kernel_error(exc.errno or 0, syscall_name, path)


#: The process-wide real kernel.
KERNEL = Kernel()
