"""Reading files of an image's root filesystem without leaving it.

An image's root filesystem is a directory on the host, but its symlinks were written for
the container, where ``/`` is that directory: ``/etc/os-release -> ../usr/lib/os-release``
is harmless, while ``var/lib/dpkg/status -> /etc/shadow`` would make a naive scanner read
the *host's* file. :class:`RootFS` resolves every path the way the kernel would inside the
container (like ``chroot``), with the image code's one walker
(:func:`boxen.image.layers.paths.walk`): absolute symlink targets start again at the root, and
``..`` at the root stays at the root. Files are read with
:func:`boxen.image.layers.rootfiles.read_file`: opened inside the root, and only if they are
regular files (checked before they are opened for reading), so a FIFO or a device node planted
where a database should be cannot block or feed the scanner; files larger than a stated limit
are refused rather than read into memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from boxen.common.errors import InvalidArgument, NotFound
from boxen.image.layers.paths import resolve
from boxen.image.layers.rootfiles import NotARegularFile, read_file


class RootFS:
    """A root filesystem directory; paths given to its methods are container paths."""

    def __init__(self, path: str) -> None:
        real = os.path.realpath(path)
        if not os.path.exists(real):
            raise NotFound(f"root filesystem {path!r} does not exist", field="rootfs")
        if not os.path.isdir(real):
            raise InvalidArgument(f"root filesystem {path!r} is not a directory", field="rootfs")
        self.path = real

    def resolve(self, path: str) -> str | None:
        """The host path of container path ``path``, symlinks followed inside the root.

        None if the path does not exist (as for the kernel, ``missing/..`` does not).
        """
        try:
            return resolve(self.path, path)
        except NotFound:
            return None

    def read_bytes(self, path: str, limit: int) -> bytes | None:
        """The contents of the regular file at ``path``, or None if there is none.

        Raises InvalidArgument if the file is larger than ``limit`` bytes.
        """
        try:
            return read_file(self.path, path, limit)
        except (NotFound, NotARegularFile):
            return None

    def read_text(self, path: str, limit: int) -> str | None:
        """:meth:`read_bytes` decoded as UTF-8 (bytes that are not UTF-8 become U+FFFD)."""
        data = self.read_bytes(path, limit)
        return None if data is None else data.decode("utf-8", errors="replace")

    def listdir(self, path: str) -> list[str]:
        """The sorted names in directory ``path``; empty if it is missing or not a directory."""
        host = self.resolve(path)
        if host is None:
            return []
        try:
            return sorted(os.listdir(host))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def find_dirs(self, names: frozenset[str], skip: frozenset[str] = frozenset()) -> Iterator[str]:
        """Container paths of every real directory (not via a symlink) whose name is in ``names``.

        The walk does not descend into the directories it yields nor into the top-level
        directories named in ``skip`` (such as ``proc``).
        """
        for top, dirs, _ in os.walk(self.path):
            rel = os.path.relpath(top, self.path)
            if rel == ".":
                dirs[:] = [d for d in dirs if d not in skip]
            keep = []
            for d in sorted(dirs):
                if d in names and not os.path.islink(os.path.join(top, d)):
                    yield "/" + os.path.normpath(os.path.join(rel, d))
                else:
                    keep.append(d)
            dirs[:] = keep
