"""The hand-off into a container: what ``create`` and ``exec`` prepare alike before they fork.

Both commands make processes that enter a container (``boxen.runtime.init`` says what those
do, ``boxen.runtime.sync`` draws their conversation with the runtime). Before forking, the
runtime opens everything the children will need but could no longer reach once inside:

* a descriptor per namespace to join (``/proc/<pid>/ns/<kind>``, or the path the config named):
  ``setns(2)`` takes a descriptor, and the path is a host path;
* the console: the caller's console socket, connected now, or one end of a socket pair through
  which the container sends back the terminal's master side;
* the channel, a ``SOCK_SEQPACKET`` socket pair, one end for the children;
* the runtime becomes a *child subreaper*, so that the container's first process, whose parent
  (the set-up child) exits at once, is reparented to the runtime, which can then wait for it;
* and the caller imports every module the children will run (``init.preload``: cheaper before
  the fork, and out of reach after the root switch).

The fork itself starts the child in the container's cgroup2 directory where the kernel allows
it (``clone3`` with ``CLONE_INTO_CGROUP``), so that nobody has to move it there (:meth:`Handoff.fork`).

A :class:`Handoff` holds those descriptors and closes them, whatever happens, when the
conversation ends. In the children, :func:`close_inherited` closes what they were not handed:
a child in the container's namespaces is visible there until it ``execveat``s the user's
program, and a descriptor it holds can be opened again through ``/proc/<pid>/fd`` by a process
of the container that may ptrace it (see ``boxen.runtime.sealed``).
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.common.errors import NotFound
from boxen.runtime.linux import constants as C
from boxen.runtime.linux.kernel import single_threaded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.runtime.cgroups.manager import Manager
    from boxen.runtime.sync import Channel


class Handoff:
    """The runtime's descriptors around one fork into a container; :meth:`close` ends them all."""

    def __init__(self, kernel) -> None:
        self.kernel = kernel
        self.fds: list[int] = []
        self.parent: Channel | None = None
        self.child: Channel | None = None
        self.console_parent: int | None = None

    def own(self, fd: int) -> int:
        """Keep ``fd`` until :meth:`close`; returns it."""
        self.fds.append(fd)
        return fd

    def open_namespaces(self, joined, field: str | None = None) -> dict[str, int]:
        """A descriptor for each ``(kind, path)`` to join; ``field`` names where the paths came from."""
        fds = {}
        for kind, path in joined:
            try:
                fds[kind] = self.own(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
            except OSError as exc:
                raise NotFound(f"cannot open namespace {path}: {os.strerror(exc.errno or 0)}",
                               field=f"{field} ({kind})" if field else None) from None
        return fds

    def console(self, console_socket: str | None) -> int:
        """The descriptor through which the container's terminal master reaches its caller."""
        from boxen.runtime import console

        if console_socket is not None:
            return self.own(console.connect(console_socket))
        self.console_parent, console_fd = console.pair()
        self.own(self.console_parent)
        return self.own(console_fd)

    def channel(self) -> tuple[Channel, Channel]:
        """A new channel: (the runtime's end, the children's end); the runtime is a subreaper from now on."""
        from boxen.runtime.sync import Channel

        self.parent, self.child = Channel.pair(self.kernel)
        self.kernel.prctl(C.PR_SET_CHILD_SUBREAPER, 1)
        return self.parent, self.child

    def fork(self, stage, ctx, preserve_fds: int, born_in: Manager | None = None) -> int:
        """Fork a child that runs ``stage(ctx)`` (which never returns); the child's channel end closes here.

        With ``born_in``, a cgroup the child must join, it is started in that cgroup's cgroup2
        directory where the kernel allows it (``Manager.clone_init``: a move there afterwards
        waits for an RCU grace period), and the manager remembers it, so that the child's
        ``join(0)`` moves it only into the other hierarchies. That clone is a raw system call,
        for a single-threaded caller only (see ``Kernel.clone``): a threaded one forks, and its
        child joins every hierarchy.
        """
        if born_in is not None and single_threaded():
            pid = born_in.clone_init(self.kernel, 0)
        else:
            pid = os.fork()
        if pid == 0:
            self.in_child(preserve_fds)
            stage(ctx)
        self.child_forked()
        return pid

    def in_child(self, preserve_fds: int) -> None:
        """In a forked child: keep stdio, ``preserve_fds`` and what was opened for it; close the rest,
        the runtime's ends of the channel and console pair included."""
        parent, child = self._channel()
        parent.close()
        keep = [fd for fd in self.fds if fd != self.console_parent] + [child.fd]
        close_inherited(self.kernel, keep, preserve_fds)

    def child_forked(self) -> None:
        """The children hold their end of the channel now: close it here, so that their exit ends the stream."""
        _, child = self._channel()
        child.close()
        self.child = None

    def _channel(self) -> tuple[Channel, Channel]:
        if self.parent is None or self.child is None:
            raise AssertionError("Handoff.channel() was not called before the fork")
        return self.parent, self.child

    def console_master(self) -> int | None:
        """The terminal's master side, sent back by the container (``None`` with a console socket)."""
        if self.console_parent is None:
            return None
        from boxen.runtime.console import recv_fd

        return recv_fd(self.console_parent)

    def close(self) -> None:
        from boxen.runtime.sync import close_all

        close_all(self.fds, self.parent, self.child)
        self.parent = self.child = None


def close_inherited(kernel, keep, preserve_fds: int = 0) -> None:
    """Close every descriptor but stdio, the ``preserve_fds`` after it, and ``keep``."""
    first = 3 + preserve_fds
    for fd in sorted({fd for fd in keep if fd is not None and fd >= first}):
        if fd > first:
            kernel.close_range(first, fd - 1, 0)
        first = fd + 1
    kernel.close_range(first, 0xFFFFFFFF, 0)
