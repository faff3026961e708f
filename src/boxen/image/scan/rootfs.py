"""Reading files of an image's root filesystem without leaving it.

An image's root filesystem is a directory on the host, but its symlinks were written for
the container, where ``/`` is that directory: ``/etc/os-release -> ../usr/lib/os-release``
is harmless, while ``var/lib/dpkg/status -> /etc/shadow`` would make a naive scanner read
the *host's* file. :class:`RootFS` resolves every path the way the kernel would inside the
container (like ``chroot``): absolute symlink targets start again at the root, and ``..``
at the root stays at the root. The final component is opened with ``O_NOFOLLOW`` and
``O_NONBLOCK`` and must be a regular file, so a FIFO or a device node planted where a
database should be cannot block or feed the scanner, and files larger than a stated
limit are refused rather than read into memory.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator

from boxen.common.errors import InvalidArgument, NotFound

_MAX_SYMLINKS = 40  # the kernel's limit on symlinks followed in one lookup (ELOOP)


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
        pending = list(reversed(path.split("/")))
        resolved: list[str] = []
        links = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            host = os.path.join(self.path, *resolved, part)
            try:
                mode = os.lstat(host).st_mode
            except (FileNotFoundError, NotADirectoryError):
                return None
            if not stat.S_ISLNK(mode):
                resolved.append(part)
                continue
            links += 1
            if links > _MAX_SYMLINKS:
                raise InvalidArgument(f"too many levels of symbolic links resolving {path!r}", field=path)
            target = os.readlink(host)
            if target.startswith("/"):
                resolved = []
            pending.extend(reversed(target.split("/")))
        return os.path.join(self.path, *resolved)

    def read_bytes(self, path: str, limit: int) -> bytes | None:
        """The contents of the regular file at ``path``, or None if there is none.

        Raises InvalidArgument if the file is larger than ``limit`` bytes.
        """
        host = self.resolve(path)
        if host is None:
            return None
        try:
            fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # the last component became a symlink after resolution
                return None
            raise
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return None
        with os.fdopen(fd, "rb") as f:
            if info.st_size > limit:
                raise InvalidArgument(f"file is {info.st_size} bytes, more than the {limit} allowed", field=path)
            data = f.read(limit + 1)
        if len(data) > limit:
            raise InvalidArgument(f"file grew past the {limit} bytes allowed while read", field=path)
        return data

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
