"""A recording stand-in for :class:`~boxen.runtime.linux.kernel.Kernel`, for unit tests.

It records every call as ``(name, args...)`` in :attr:`FakeKernel.calls` and changes nothing in
the kernel, so the order of a container's set-up (namespaces, mounts, capabilities) can be
checked without root. It has exactly :class:`Kernel`'s public methods, with the same
parameters (a unit test compares them), so a misspelt or missing kernel call fails in unit
tests as it would for real, instead of being answered by a catch-all.

What the calls return: ``clone`` returns :attr:`FakeKernel.child_pid` (the parent's side);
``capget`` returns :attr:`FakeKernel.capabilities`; ``openat2`` is emulated with a plain
``openat`` (no ``RESOLVE_*`` restrictions), enough to walk a temporary root filesystem;
``open_tree`` returns a descriptor of ``/dev/null`` and ``socketpair`` a real pair of
connected sockets, so that code closing them closes something of its own. Mounts are
recorded with the name they were made for (the ``display`` path), since the real target is
a ``/proc/self/fd`` link.
"""

from __future__ import annotations

import _socket

from boxen.common import posixos as os
from boxen.common.errors import kernel_error

#: Every capability (0 to 40) as a mask.
_ALL_CAPS = (1 << 41) - 1


class FakeKernel:
    """Records calls; see the module's docstring for what each returns."""

    def __init__(self, *, child_pid: int = 4242, capabilities: tuple[int, int, int] = (_ALL_CAPS, _ALL_CAPS, 0)):
        self.calls: list[tuple] = []
        self.child_pid = child_pid
        self.capabilities = capabilities

    def names(self) -> list[str]:
        """The names of the calls so far, in order."""
        return [call[0] for call in self.calls]

    def _record(self, *call: object) -> None:
        self.calls.append(call)

    # --- processes and namespaces -------------------------------------------------------------

    def clone(self, flags: int, cgroup_fd: int | None = None) -> int:
        self._record("clone", flags, cgroup_fd)
        return self.child_pid

    def unshare(self, flags: int) -> None:
        self._record("unshare", flags)

    def setns(self, fd: int, nstype: int, path: str | None = None) -> None:
        self._record("setns", fd, nstype, path)

    # --- mounts ----------------------------------------------------------------------------------

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None,
              *, display: str | None = None) -> None:
        self._record("mount", source, display or target, fstype, flags, data)

    def umount(self, target: str, flags: int = 0) -> None:
        self._record("umount", target, flags)

    def mount_setattr(self, dirfd: int, path: str, flags: int, attr_set: int, attr_clear: int = 0,
                      userns_fd: int = 0, *, display: str | None = None) -> None:
        self._record("mount_setattr", dirfd, display or path, flags, attr_set, attr_clear, userns_fd)

    def open_tree(self, dirfd: int, path: str, flags: int, *, display: str | None = None) -> int:
        self._record("open_tree", dirfd, display or path, flags)
        return os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)

    def move_mount(self, from_fd: int, to_fd: int, flags: int, *, display: str | None = None) -> None:
        self._record("move_mount", from_fd, to_fd, flags, display)

    def fsopen(self, fstype: str) -> int:
        self._record("fsopen", fstype)
        return os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)

    def fsconfig(self, fs_fd: int, cmd: int, key: str | None = None, value: str | None = None, *,
                 display: str | None = None) -> None:
        self._record("fsconfig", fs_fd, cmd, key, display or value)

    def fsmount(self, fs_fd: int, attr_flags: int = 0) -> int:
        self._record("fsmount", fs_fd, attr_flags)
        return os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._record("pivot_root", new_root, put_old)

    def chroot(self, path: str) -> None:
        self._record("chroot", path)

    def openat2(self, dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0,
                *, display: str | None = None) -> int:
        try:
            return os.open(path, flags, mode, dir_fd=dirfd)
        except OSError as exc:
            raise kernel_error(exc.errno or 0, "openat2", display or path) from None

    # --- identity and privileges --------------------------------------------------------------------

    def sethostname(self, name: str) -> None:
        self._record("sethostname", name)

    def setdomainname(self, name: str) -> None:
        self._record("setdomainname", name)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        self._record("prctl", option, arg2, arg3, arg4, arg5)
        return 0

    def capget(self, pid: int = 0) -> tuple[int, int, int]:
        self._record("capget", pid)
        return self.capabilities

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self._record("capset", effective, permitted, inheritable)

    def sched_setattr(self, attr: bytes) -> None:
        self._record("sched_setattr", attr)

    def ioprio_set(self, value: int) -> None:
        self._record("ioprio_set", value)

    def personality(self, persona: int) -> None:
        self._record("personality", persona)

    def socketpair(self, domain: int, kind: int) -> tuple[int, int]:
        self._record("socketpair", domain, kind)
        first, second = _socket.socketpair(domain, kind)
        return first.detach(), second.detach()

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        self._record("setrlimit", resource, soft, hard)

    def join_session_keyring(self, name: str | None) -> None:
        self._record("join_session_keyring", name)

    # --- terminals -----------------------------------------------------------------------------------

    def ioctl(self, fd: int, request: int, arg: object = None) -> int:
        self._record("ioctl", fd, request, arg)
        return 0

    # --- file descriptors and exec ---------------------------------------------------------------------

    def close_range(self, first: int, last: int, flags: int = 0) -> None:
        self._record("close_range", first, last, flags)

    def execveat(self, dirfd: int, path: str, argv: list[str], envp: list[str], flags: int = 0,
                 *, display: str | None = None) -> None:
        self._record("execveat", dirfd, display or path, argv, envp, flags)

    def pidfd_send_signal(self, pidfd: int, sig: int) -> None:
        self._record("pidfd_send_signal", pidfd, sig)
