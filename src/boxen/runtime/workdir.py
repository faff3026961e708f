"""The container process's descriptors and working directory: the last doors to the host.

A process's *working directory* is a reference to a directory, not a path: whatever the process
opens with a relative path starts there, and ``..`` from it climbs until it meets the process's
*root* (``chroot``/``pivot_root``), never beyond. But the climb stops at the root only if it
passes through it. A working directory that lies outside the root (a host directory) is
unreachable from ``/``: ``getcwd`` says so (``ENOENT``, glibc's ``(unreachable)``), and ``..``
from it climbs the host's tree up to the host's ``/``.

A runtime process that is already inside the container still holds host descriptors for a
moment: descriptors inherited from its caller (``exec ... 9</``), or ones it opened itself
before the root switch. Closing them on exec (``O_CLOEXEC``) is not enough: the kernel's magic
links ``/proc/self/fd/N`` lead to them *now*, so ``process.cwd: /proc/self/fd/9`` (or
``exec --cwd``) would put the new program in a host directory (runc's CVE-2024-21626). Two
defences, each sufficient on its own:

* :func:`close_descriptors` really closes every descriptor but stdio, the ``--preserve-fds``
  range and the few the runtime still needs, before the working directory is entered (and
  :func:`hold_preserved` keeps the runtime's own descriptors out of that range);
* :func:`enter` resolves the working directory *inside* the root with ``openat2`` under
  ``RESOLVE_IN_ROOT`` (``..`` and absolute symbolic links stay in the root) and
  ``RESOLVE_NO_MAGICLINKS`` (no ``/proc/<pid>/fd`` or ``/cwd`` jumps), ``fchdir``\\ s to the
  result, and checks with ``getcwd`` that the directory is reachable from the root.

The directory is entered twice if need be, as runc does: first while the process is still root
(a directory only root may search, ``/root`` with mode 0700, then works for any ``process.user``,
since only entering needs the permission), and again after the switch to the container's user
(a directory only that user may search, on a file system where root has no override).
"""

from __future__ import annotations

import errno as E

from boxen.common import posixos as os
from boxen.common.errors import KernelError, NotFound, PermissionDenied, Unimplemented
from boxen.runtime.linux import constants as C

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.runtime.linux.kernel import Kernel

_ALL = 0xFFFFFFFF


def hold_preserved(count: int) -> None:
    """Fill with /dev/null each of the descriptors 3 to 3+count-1 that the caller left closed.

    Called by the runtime before it opens anything of its own: the kernel gives out the lowest
    free number, so otherwise the runtime's own descriptors (the start socket, a host namespace,
    the channel to the init) would land in the ``--preserve-fds`` range and be passed on to the
    container as if the caller had given them.
    """
    null = None
    for fd in range(3, 3 + count):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        if null is None:
            null = os.open("/dev/null", os.O_RDWR)
            if null == fd:  # the lowest free number: this one
                continue
        os.dup2(null, fd)
    if null is not None and not 3 <= null < 3 + count:
        os.close(null)


def close_descriptors(k: Kernel, first: int, keep: tuple[int, ...] = ()) -> None:
    """Close every descriptor from ``first`` up, but those in ``keep``, which become close-on-exec."""
    k.close_range(first, _ALL, C.CLOSE_RANGE_CLOEXEC)
    low = first
    for fd in sorted(fd for fd in set(keep) if fd >= first):
        if fd > low:
            k.close_range(low, fd - 1)
        low = fd + 1
    k.close_range(low, _ALL)


class WorkingDirectory:
    """``process.cwd``, opened inside the root; :meth:`enter` it before and after the user switch."""

    __slots__ = ("entered", "fd", "path")

    def __init__(self, k: Kernel, path: str) -> None:
        self.path = path
        self.entered = False
        self.fd = _open_in_root(k, path, final=False)

    def enter(self, k: Kernel, *, final: bool) -> None:
        """Make it this process's working directory; before the user switch (``final`` False) a
        refusal is only remembered, after it (``final`` True) it is the error."""
        if self.entered:
            return
        if self.fd is None:
            self.fd = _open_in_root(k, self.path, final)
            if self.fd is None:
                return
        try:
            os.fchdir(self.fd)
        except OSError as exc:
            if final or exc.errno not in (E.EACCES, E.EPERM):
                raise cwd_error(self.path, exc.errno or 0) from None
            return
        try:
            os.getcwd()
        except OSError as exc:
            raise cwd_error(self.path, exc.errno or 0) from None
        self.entered = True
        os.close(self.fd)
        self.fd = None


def _open_in_root(k: Kernel, path: str, final: bool) -> int | None:
    """An ``O_PATH`` descriptor of ``path`` resolved inside this process's root; None if the
    resolution is refused for permission and ``final`` is False (to be tried again later)."""
    root = os.open("/", C.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return k.openat2(root, path, C.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0,
                         C.RESOLVE_IN_ROOT | C.RESOLVE_NO_MAGICLINKS)
    except Unimplemented:
        return _open_and_check(path, final)
    except KernelError as exc:
        if not final and exc.errno in (E.EACCES, E.EPERM):
            return None
        raise cwd_error(path, exc.errno) from None
    finally:
        os.close(root)


def _open_and_check(path: str, final: bool) -> int | None:
    """Without ``openat2`` (Linux before 5.6): open by path; :meth:`WorkingDirectory.enter`'s
    ``getcwd`` check and the closed descriptors keep the result inside the root."""
    try:
        return os.open(path, C.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        if not final and exc.errno in (E.EACCES, E.EPERM):
            return None
        raise cwd_error(path, exc.errno or 0) from None


def cwd_error(path: str, errno: int) -> Exception:
    """The error for a working directory that cannot be entered (worded as runc's)."""
    reason = os.strerror(errno).lower()
    if errno == E.ELOOP:
        reason += (" (a symbolic link loop, or a /proc magic link such as /proc/self/fd/N, refused as it"
                   " could lead outside the container)")
    message = f"chdir to cwd (\"{path}\") set in config.json failed: {reason}"
    if errno == E.ENOENT:
        return NotFound(message, field="process.cwd")
    return PermissionDenied(message, field="process.cwd")
