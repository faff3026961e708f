"""A directory descriptor moved through a tree, so that no path handed to the kernel is long.

Every system call that takes a path walks it from the start, one component at a time, and
refuses one longer than ``PATH_MAX`` (4096 bytes) with ``ENAMETOOLONG``. A layer may nest
directories thousands deep: naming each entry by its full path from the root would cost a
walk as deep as the entry for every call (quadratic over the layer), and fail altogether
past ``PATH_MAX``. A shell's ``cd`` shows the way out: keep the directory being worked in
open and name things relative to it (the ``*at`` calls: ``openat``, ``mkdirat``,
``fstatat``...). Layer entries come in tree order, so consecutive entries mostly share
their parent, and moving to the next parent is a step or two: down into a child
(``openat(fd, name)``) or up (``openat(fd, "..")``).

Calls that take no directory descriptor (``setxattr``, ``utimensat`` on a path, and every
call in code written for paths) get a short path that starts at the descriptor:
``/proc/self/fd/<fd>/<name>``. ``/proc/self/fd/<fd>`` is a *magic link*: the kernel jumps
straight to the open directory, however long its own path is, and walks only ``<name>``.
A final symlink there is treated as at any other path (``lstat``, ``O_NOFOLLOW`` and
``follow_symlinks=False`` do not follow it).

The descriptors are opened with ``O_PATH`` (they only name a place: the permission to search
a directory is all a step needs, as for a path walk) and ``O_NOFOLLOW | O_DIRECTORY``, so a
step never follows a symlink: a cursor names real directories only, and the caller resolves
symlinks first (:class:`boxen.image.layers.paths.Resolver`).
"""

from __future__ import annotations

import os

_STEP = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Cursor:
    """An open directory of the tree at ``root``, moved by :meth:`at` to the directory asked for.

    ``rel`` is the directory's path relative to the root (``""`` for the root), components
    joined by ``/`` with no symlinks among them. Only one directory of the tree (besides the
    root) is open at a time.
    """

    def __init__(self, root: str) -> None:
        self.root_fd = os.open(root, _STEP)
        self.fd = self.root_fd
        self.rel = ""

    def close(self) -> None:
        self._leave()
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = self.fd = -1

    def at(self, rel: str) -> int:
        """A descriptor of directory ``rel``, valid until the next move or :meth:`reset`."""
        if rel == self.rel:
            return self.fd
        here = self.rel
        if not here or not rel:
            common = ""
        elif rel.startswith(here + "/"):
            common = here
        else:
            common = os.path.commonprefix([here + "/", rel + "/"])
            common = common[:common.rfind("/")] if "/" in common else ""
        up = here.count("/", len(common)) + (1 if here and not common else 0)
        if not common or up > common.count("/") + 1:
            fd, owned, down = self.root_fd, False, rel  # shorter from the root
            self._leave()
        else:
            fd, owned, down = self.fd, True, rel[len(common) + 1:]
            self.fd, self.rel = self.root_fd, ""  # the cursor owns nothing while it moves
            for _ in range(up):
                fd, owned = self._step(fd, owned, ".."), True
        for name in down.split("/") if down else ():
            fd, owned = self._step(fd, owned, name), True
        self.fd, self.rel = fd, rel
        return fd

    def path(self, rel: str, name: str = "") -> str:
        """A short path to ``name`` in directory ``rel``, usable until the next move.

        Without ``name`` the path ends in the magic link itself: good for calls that follow it
        (``scandir``, ``open``), but one that does not follow a final symlink (``lstat``,
        ``follow_symlinks=False``) would act on the link; name the directory from its parent.
        """
        fd = self.at(rel)
        return f"/proc/self/fd/{fd}/{name}" if name else f"/proc/self/fd/{fd}"

    def reset(self) -> None:
        """Back to the root: call it after removing a directory the cursor might be in."""
        self._leave()

    def _leave(self) -> None:
        if self.fd != self.root_fd:
            os.close(self.fd)
        self.fd, self.rel = self.root_fd, ""

    def _step(self, fd: int, owned: bool, name: str) -> int:
        """``name`` in ``fd`` opened (``fd`` closed if ``owned``); on failure ``fd`` is closed too."""
        try:
            return os.open(name, _STEP, dir_fd=fd)
        finally:
            if owned:
                os.close(fd)
