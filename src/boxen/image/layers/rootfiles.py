"""Opening files of an untrusted tree (an image's root file system) without leaving it or blocking.

Reading ``/etc/passwd`` of an image to look up its ``USER``, or a package database to scan it,
meets three traps that a plain ``open(root + path)`` falls into:

* **symlinks** written for the container (``/etc/passwd -> /host/secret``) lead out of the
  tree; inside the root they must resolve as the container would see them, ``/`` being the
  root (:func:`boxen.image.layers.paths.walk`);
* a **path that changes while it is walked** (a directory swapped for a symlink by a running
  container) turns a path that was checked into one that is not: so nothing is opened by its
  full path, only relative to a descriptor of the directory that was checked;
* a **file that is not a file**: opening a FIFO blocks until a writer comes, and opening a
  device node calls the host's driver (a tape rewinds, a terminal may become the caller's
  controlling terminal). The file is first opened with ``O_PATH``, which reaches the inode
  without opening it, checked to be a regular file with ``fstat``, and only then opened for
  reading, with ``O_NOFOLLOW | O_NONBLOCK | O_NOCTTY``, and checked to be the same inode.

Two ways resolve the path, with the same results: the kernel's ``openat2`` with
``RESOLVE_IN_ROOT`` (:func:`boxen.runtime.inroot.open_in_root`, one system call), and where
the kernel lacks it, or the path is longer than ``PATH_MAX``, the walker of
:mod:`~boxen.image.layers.paths` stepping through directory descriptors, each opened with
``O_PATH | O_DIRECTORY | O_NOFOLLOW`` relative to its parent. A directory renamed out of the
tree while it is walked is the one case only the kernel's way notices.
"""

from __future__ import annotations

import errno
import os
import stat

from boxen.common.errors import InvalidArgument, KernelError, NotFound, kernel_error
from boxen.image.layers.paths import DIRECTORY, MISSING, OTHER, SYMLINK, NotADirectory, walk

_DIRECTORY_PATH = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_FALL_BACK = (errno.ENOSYS, errno.EPERM, errno.ENAMETOOLONG)  # no openat2, seccomp, deeper than PATH_MAX


class NotARegularFile(InvalidArgument):
    """The path names a directory, FIFO, socket or device where a file was expected."""


class _Descriptors:
    """The ``look`` of :func:`walk` over directory descriptors opened one below the other."""

    def __init__(self, root_fd: int, field: str) -> None:
        self.fds = [root_fd]
        self.names: list[str] = []
        self.field = field

    def directory(self, stack: list[str]) -> int:
        """A descriptor of directory ``stack``, reusing those already open on the way."""
        keep = 0
        while keep < min(len(stack), len(self.names)) and stack[keep] == self.names[keep]:
            keep += 1
        for fd in self.fds[keep + 1:]:
            os.close(fd)
        del self.fds[keep + 1:], self.names[keep:]
        for name in stack[keep:]:
            try:
                fd = os.open(name, _DIRECTORY_PATH, dir_fd=self.fds[-1])
            except OSError as exc:  # it was a directory when looked at: something swapped it
                raise InvalidArgument(f"/{'/'.join(self.names + [name])} changed while it was walked "
                                      f"({os.strerror(exc.errno or errno.EIO)})", field=self.field) from None
            self.fds.append(fd)
            self.names.append(name)
        return self.fds[-1]

    def look(self, stack: list[str], part: str) -> tuple[str, str | None]:
        fd = self.directory(stack)
        try:
            st = os.stat(part, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return MISSING, None
        except OSError as exc:  # a name longer than NAME_MAX, a directory we may not search...
            raise kernel_error(exc.errno or errno.EIO, "fstatat", "/" + "/".join([*stack, part])) from None
        if stat.S_ISDIR(st.st_mode):
            return DIRECTORY, None
        if stat.S_ISLNK(st.st_mode):
            try:
                return SYMLINK, os.readlink(part, dir_fd=fd)
            except OSError:
                return MISSING, None
        return OTHER, None

    def close(self) -> None:
        for fd in self.fds[1:]:
            os.close(fd)
        del self.fds[1:], self.names[:]


def _walked(root_fd: int, path: str, flags: int, field: str) -> int:
    """``path`` opened with ``flags`` after the user-space walk (see the module docstring)."""
    view = _Descriptors(root_fd, field)
    try:
        stack = walk(path, view.look, field=field)
        if not stack:
            return os.open(".", flags | os.O_CLOEXEC, dir_fd=root_fd)
        parent = view.directory(stack[:-1])
        try:
            return os.open(stack[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except FileNotFoundError:
            raise NotFound(f"/{'/'.join(stack)} does not exist", field=field) from None
        except OSError as exc:
            raise kernel_error(exc.errno or errno.EIO, "openat", "/" + "/".join(stack)) from None
    finally:
        view.close()


def _opened(root_fd: int, path: str, flags: int, field: str, *, kernel: bool) -> int:
    """``path`` inside the root opened with ``flags``, symlinks followed inside the root."""
    if kernel:
        from boxen.runtime.inroot import open_in_root

        for _ in range(3):  # EAGAIN: a rename raced with the lookup; the kernel asks to retry
            try:
                return open_in_root(root_fd, path, flags | os.O_CLOEXEC, display=path)
            except KernelError as exc:
                if exc.errno == errno.EAGAIN:
                    continue
                if exc.errno in _FALL_BACK:
                    break
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    raise NotFound(f"{path} does not exist", field=field) from None
                if exc.errno == errno.ELOOP:
                    raise InvalidArgument(f"too many levels of symbolic links in {path!r}", field=field) from None
                raise
    try:
        return _walked(root_fd, path, flags, field)
    except NotADirectory as exc:
        raise NotFound(exc.message, field=field) from None


def open_file(root: str, path: str, *, field: str | None = None, kernel: bool = True) -> int:
    """A read-only, non-blocking descriptor of the regular file ``path`` inside ``root``.

    Raises NotFound if it does not exist, :class:`NotARegularFile` if it is something else,
    InvalidArgument for a symlink loop or a path that changed while it was opened.
    ``kernel=False`` skips ``openat2`` and walks in user space (as where the kernel lacks it).
    """
    field = field or path
    try:
        root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"the root directory {root} does not exist", field=field) from None
    try:
        probe = _opened(root_fd, path, os.O_PATH, field, kernel=kernel)
        try:
            seen = os.fstat(probe)
        finally:
            os.close(probe)
        if not stat.S_ISREG(seen.st_mode):
            raise NotARegularFile(f"{path} in the image is {_kind(seen.st_mode)}, not a regular file", field=field)
        fd = _opened(root_fd, path, _READ, field, kernel=kernel)
    finally:
        os.close(root_fd)
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (seen.st_dev, seen.st_ino) or not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise InvalidArgument(f"{path} in the image changed while it was opened", field=field)
    return fd


def read_file(root: str, path: str, limit: int, *, field: str | None = None, kernel: bool = True) -> bytes:
    """The bytes of the regular file ``path`` inside ``root`` (see :func:`open_file`), refusing
    files of more than ``limit`` bytes without reading them into memory."""
    field = field or path
    fd = open_file(root, path, field=field, kernel=kernel)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise InvalidArgument(f"{path} in the image is {size} bytes, more than the {limit} allowed", field=field)
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    if left <= 0:
        raise InvalidArgument(f"{path} in the image grew past the {limit} bytes allowed while it was read", field=field)
    return b"".join(chunks)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a file"
