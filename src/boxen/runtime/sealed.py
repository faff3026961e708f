"""The runtime's interpreter, sealed: no container may write to the host's Python.

Until a forked process of the runtime calls ``execveat``, it *is* the runtime's interpreter:
``/proc/<pid>/exe`` names the host's ``python3.11``. A process in the container that can see
it (same pid namespace) and holds ``CAP_SYS_PTRACE`` passes the kernel's ptrace access check
even though the process is non-dumpable, so it can open ``/proc/<pid>/exe`` (``O_PATH`` is
enough) and keep the descriptor. While any process executes the file, the kernel refuses
writes to it (``ETXTBSY``); once the last one has exited, ``open("/proc/self/fd/N",
O_WRONLY)`` succeeds and the container replaces the interpreter every host program written in
Python runs next. That is runc's CVE-2019-5736, with Python in runc's place.

The defence is to make the file reachable through that descriptor one that cannot be written:
the runtime re-executes itself from a **detached read-only bind mount** of its interpreter.
``open_tree(OPEN_TREE_CLONE)`` copies the mount holding ``/proc/self/exe`` into a new,
anonymous mount namespace, and hands back a descriptor of it without attaching it anywhere;
``mount_setattr(MOUNT_ATTR_RDONLY)`` makes the copy read-only; ``execveat`` on the descriptor
runs the interpreter from it. ``/proc/<pid>/exe`` then names a file on a mount that

* is read-only, so opening the file for writing through it fails with ``EROFS``;
* belongs to no mount namespace once the descriptor closes on exec (the anonymous namespace
  dissolves), so nobody, the host's root included, can remount it writable: ``mount_setattr``
  and ``mount -o remount`` need a mount attached in the caller's namespace.

It costs two system calls and one more start of the interpreter: the program runs again from
the start, with the same arguments and environment (figures in ``bench/RESULTS.md``). runc
does the same with a read-only overlay or a sealed ``memfd`` copy of its binary; a ``memfd``
copy of Python's binary costs a copy of several megabytes on every start (and as much
memory per process), the bind mount nothing but the two calls.

**The fallback: a sealed copy.** Where those calls are missing (kernels before 5.12: ENOSYS)
or refused (a runtime inside a container without ``CAP_SYS_ADMIN`` over its mount namespace:
EPERM), the runtime copies its interpreter into a ``memfd``, an anonymous file in memory
(``memfd_create`` with ``MFD_ALLOW_SEALING``), and *seals* it: ``F_ADD_SEALS`` with
``F_SEAL_WRITE``, ``F_SEAL_GROW`` and ``F_SEAL_SHRINK`` forbid every change of its contents
and size to everyone, and ``F_SEAL_SEAL`` forbids removing the seals. ``execveat`` then runs
the copy: ``/proc/<pid>/exe`` names the memfd, which no open for writing reaches, and the
host's file is not executed at all. runc falls back the same way.

Which processes need it: those that enter the container's namespaces while still being the
interpreter *and* that a process of the container can see before they ``execveat``:

* every ``exec``: the exec'd process joins the container's pid namespace;
* the init of a container without a pid namespace of its own (it shares the host's, or joins
  another container's): the container's processes see it at once.

The init of a container with a pid namespace of its own needs none: it is pid 1 of a namespace
in which no other process exists until it has exec'd the user's program, except one that
``exec`` adds while the init waits for ``start``; and ``exec`` refuses a container whose
waiting init is an unsealed interpreter (:func:`exe_is_sealed`). ``run`` thus pays nothing.
``boxen-runtime create`` runs sealed all the same, so that ``exec`` into a created container
works, as it does with runc.

A program that uses :class:`boxen.runtime.Runtime` as a library calls :func:`ensure` once at
its start (the ``boxen-runtime`` command line does so for the commands that need it); the
library raises :class:`Unsealed` rather than let an unsealed interpreter into a container.
"""

from __future__ import annotations

import posix
import sys

from boxen.common import posixos as os
from boxen.common.errors import FailedPrecondition, KernelError, Unimplemented
from boxen.runtime.linux import constants as C

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

#: Set, to its pid, in the environment of the re-executed runtime: re-executing that same process
#: again would be a loop (a child that inherits the variable has another pid).
MARKER = b"BOXEN_RUNTIME_SEALED"
_ST_RDONLY = 1
_OPEN_TREE_CLOEXEC = 0o2000000


class Unsealed(FailedPrecondition):
    """The runtime would let its own, writable interpreter into a container: re-execute sealed first."""


def exe_is_sealed(pid: int | str = "self") -> bool:
    """Whether ``/proc/<pid>/exe`` lies on a read-only mount attached to no mount namespace we see."""
    try:
        fd = os.open(f"/proc/{pid}/exe", C.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not os.fstatvfs(fd).f_flag & _ST_RDONLY:
            return _sealed_memfd(pid)
        with open(f"/proc/self/fdinfo/{fd}", "rb") as f:
            fdinfo = f.read()
    finally:
        os.close(fd)
    mount_id = fdinfo.split(b"mnt_id:", 1)[1].split(None, 1)[0]
    with open("/proc/self/mountinfo", "rb") as f:
        return all(line.split(b" ", 1)[0] != mount_id for line in f)


def interpreter_file() -> tuple[int, int]:
    """(device, inode) of the runtime's interpreter, which a container may never run as its
    program; run from a sealed copy, of the file it copied (the one a container could write)."""
    st = os.stat("/proc/self/exe")
    if os.readlink("/proc/self/exe").startswith("/memfd:"):
        st = os.stat(sys.executable)
    return st.st_dev, st.st_ino


def interpreter_of(pid: int) -> bool:
    """Whether process ``pid`` still runs this runtime's interpreter (the same file, however reached)."""
    try:
        theirs = os.stat(f"/proc/{pid}/exe")
    except OSError:
        return False
    return (theirs.st_dev, theirs.st_ino) == interpreter_file()


def require(what: str) -> None:
    """Raise :class:`Unsealed` unless this process runs sealed; ``what`` names the process at stake."""
    if not exe_is_sealed():
        raise Unsealed(f"{what} would be the runtime's own interpreter, writable from inside the container: "
                       "run the runtime sealed (boxen.runtime.sealed.ensure() at the start of the program)")


def ensure(kernel=None) -> None:
    """Re-execute this program from a sealed copy of its interpreter, unless it already runs so."""
    if not exe_is_sealed():
        reexec(kernel)


def reexecuted() -> bool:
    """Whether this process is a runtime that already re-executed itself (so it began its command
    once before, and what it printed then, ``run --explain``'s explanation, is not to repeat)."""
    return posix.environ.get(MARKER) == str(os.getpid()).encode()


def reexec(kernel=None) -> NoReturn:
    """Run this program again, with the same arguments and environment, from a detached read-only
    bind mount of its interpreter, or else a sealed copy of it. Returns only by raising."""
    pid = str(os.getpid())
    if reexecuted():
        raise Unimplemented("the runtime re-executed itself from a read-only copy of its interpreter, "
                            "but /proc/self/exe is still not on a detached read-only mount, nor a sealed memfd")
    if kernel is None:
        from boxen.runtime.linux.kernel import KERNEL as kernel
    program = _read_only_tree(kernel)
    if program is None:
        program = sealed_copy()
    env = [f"{os.fsdecode(key)}={os.fsdecode(value)}" for key, value in posix.environ.items() if key != MARKER]
    env.append(f"{MARKER.decode()}={pid}")
    sys.stdout.flush()
    sys.stderr.flush()
    kernel.execveat(program, "", list(sys.orig_argv), env, C.AT_EMPTY_PATH, display=sys.orig_argv[0])
    raise AssertionError("execveat returned")


def _read_only_tree(kernel) -> int | None:
    """A detached read-only mount of the interpreter, or None where the kernel lacks or refuses one."""
    try:
        tree = kernel.open_tree(C.AT_FDCWD, "/proc/self/exe", C.OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC,
                                display="the runtime's interpreter")
    except KernelError:
        return None
    try:
        kernel.mount_setattr(tree, "", C.AT_EMPTY_PATH, C.MOUNT_ATTR_RDONLY | C.MOUNT_ATTR_NOSUID | C.MOUNT_ATTR_NODEV,
                             display="the runtime's interpreter")
    except KernelError:
        os.close(tree)
        return None
    return tree


#: Every seal a sealed copy carries: no write, no growing, no shrinking, no removing the seals.
SEALS = C.F_SEAL_WRITE | C.F_SEAL_GROW | C.F_SEAL_SHRINK | C.F_SEAL_SEAL


def sealed_copy() -> int:
    """A close-on-exec ``memfd`` holding a copy of this process's interpreter, sealed (:data:`SEALS`)."""
    source = os.open("/proc/self/exe", os.O_RDONLY | os.O_CLOEXEC)
    try:
        copy = os.memfd_create("boxen-runtime", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            size = os.fstat(source).st_size
            offset = 0
            while offset < size:
                sent = os.sendfile(copy, source, offset, size - offset)
                if sent == 0:
                    raise Unimplemented("copying the runtime's interpreter into a sealed memfd: short copy")
                offset += sent
            import fcntl

            fcntl.fcntl(copy, C.F_ADD_SEALS, SEALS)
        except BaseException:
            os.close(copy)
            raise
    finally:
        os.close(source)
    return copy


def _sealed_memfd(pid: int | str) -> bool:
    """Whether ``/proc/<pid>/exe`` is a memfd carrying every seal of :data:`SEALS`."""
    try:
        fd = os.open(f"/proc/{pid}/exe", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        import fcntl

        return fcntl.fcntl(fd, C.F_GET_SEALS) & SEALS == SEALS
    except OSError:  # not a memfd (EINVAL): a file that can be sealed is never a program file
        return False
    finally:
        os.close(fd)
