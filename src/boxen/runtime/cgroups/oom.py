"""Out-of-memory notifications: how ``events`` learns that the kernel's OOM killer struck.

When a cgroup's processes use all the memory its limit allows and the kernel cannot reclaim
any, the OOM killer ends one of them. ``runc events`` reports each such event as
``{"type": "oom", "id": ...}``; the kernel tells a watcher in a different way per version:

* **v1**: an *eventfd* registered with the memory controller. Writing ``"<eventfd> <fd of
  memory.oom_control>"`` to the cgroup's ``cgroup.event_control`` asks the kernel to add 1 to
  the eventfd's counter at every OOM in the cgroup (and once more when the cgroup is removed,
  which is why :meth:`OOMWatch.fired` checks that the cgroup is still there).
* **v2**: ``memory.events`` counts them (``oom_kill N``), and the file signals ``POLLPRI``
  whenever a count changes; the watch compares the count with the one it saw before.

A watch is a file descriptor to ``poll`` (:attr:`OOMWatch.events` says for what) and
:meth:`OOMWatch.fired`, called when it is ready.
"""

from __future__ import annotations

import select

from boxen.common import posixos as os
from boxen.runtime.cgroups.writes import write, write_error


class OOMWatch:
    """One cgroup's OOM notifications (see the module docstring)."""

    def __init__(self, fd: int, events: int, directory: str, keep: tuple[int, ...] = ()) -> None:
        self.fd = fd
        #: what to ``poll`` the descriptor for
        self.events = events
        self.directory = directory
        self._keep = keep
        self._seen = self._oom_kills() if events == select.POLLPRI else 0

    def fileno(self) -> int:
        return self.fd

    def fired(self) -> bool:
        """Whether an OOM happened since the last call (reads what made the descriptor ready)."""
        if self.events == select.POLLPRI:
            count = self._oom_kills()
            fired, self._seen = count > self._seen, max(count, self._seen)
            return fired
        try:
            os.eventfd_read(self.fd)
        except BlockingIOError:
            return False
        return os.path.isdir(self.directory)  # (removing the cgroup signals the eventfd too)

    def _oom_kills(self) -> int:
        """The ``oom_kill`` count of ``memory.events``, read through the watched descriptor
        (reading it is what re-arms ``POLLPRI``); 0 if it cannot be read."""
        try:
            text = os.pread(self.fd, 4096, 0).decode()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.isdigit():
                return int(value)
        return 0

    def close(self) -> None:
        for fd in (self.fd, *self._keep):
            os.close(fd)


def watch_v1(memory_dir: str) -> OOMWatch:
    """Register an eventfd for the v1 memory cgroup ``memory_dir``."""
    efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    try:
        control = os.open(os.path.join(memory_dir, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        os.close(efd)
        raise write_error(os.path.join(memory_dir, "memory.oom_control"), "(open)", exc) from None
    registration = f"{efd} {control}"
    try:
        write(os.path.join(memory_dir, "cgroup.event_control"), registration)
    except OSError as exc:
        os.close(efd)
        os.close(control)
        raise write_error(os.path.join(memory_dir, "cgroup.event_control"), registration, exc) from None
    return OOMWatch(efd, select.POLLIN, memory_dir, keep=(control,))


def watch_v2(directory: str) -> OOMWatch:
    """Watch ``memory.events`` of the v2 cgroup ``directory``."""
    path = os.path.join(directory, "memory.events")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise write_error(path, "(open)", exc) from None
    return OOMWatch(fd, select.POLLPRI, directory)
