"""Whole directory trees: remove, copy faithfully, measure.

Root file systems are deep and adversarial (a layer can nest directories thousands deep, or
leave a directory without write permission), so these walks are iterative rather than
recursive, go by directory descriptor rather than by full path (a tree deeper than
``PATH_MAX`` is walked as easily as a shallow one, and each step costs the kernel one
lookup, not a walk from the top), never follow symlinks, and remove what a rootless unpack
made read-only by giving the owner write permission back first.

:func:`copy_tree` is what a copying snapshotter needs instead of overlayfs: every file type,
owners, modes (setuid included), extended attributes, nanosecond times, and hardlinks kept as
hardlinks, with file data moved by ``copy_file_range(2)`` inside the kernel.
"""

from __future__ import annotations

import os
import stat

from boxen.common.record import Record
from boxen.image.layers.cursor import Cursor


class Usage(Record):
    """Disk usage of a tree: bytes of data (a hardlinked file counted once) and inodes."""

    size: int
    inodes: int


def remove_tree(path: str) -> None:
    """Remove ``path`` and everything beneath it; what is already gone is fine.

    The walk goes by descriptor, never by full path: each directory is opened relative to its
    parent (``openat``), its entries are removed relative to it (``unlinkat``), and the walk
    climbs back through ``..``. So a tree nested deeper than ``PATH_MAX`` (4096 bytes) goes as
    easily as a shallow one, and only one directory is open at a time, however deep it goes.
    """
    parent, name = os.path.split(os.path.abspath(path))
    try:
        top = os.open(parent, _DIRECTORY)
    except FileNotFoundError:
        return
    try:
        try:
            st = os.lstat(name, dir_fd=top)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            remove_directory_at(top, name)
        else:
            _unlink_at(top, name)
    finally:
        os.close(top)


_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_directory_at(top: int, name: str) -> None:
    """Remove directory ``name`` of the open directory ``top`` with all it holds (see remove_tree)."""
    fd = _open_at(top, name)
    if fd < 0:
        return
    # one entry per directory between ``name`` and the current one: the name the current
    # directory has in its parent, and the subdirectories of the parent still to remove
    stack: list[tuple[str, list[str]]] = []
    subdirectories = _empty_but_subdirectories(fd)
    try:
        while True:
            if subdirectories:
                child = subdirectories.pop()
                child_fd = _open_at(fd, child)
                if child_fd < 0:
                    continue
                stack.append((child, subdirectories))
                os.close(fd)
                fd = child_fd
                subdirectories = _empty_but_subdirectories(fd)
                continue
            if not stack:
                break
            child, subdirectories = stack.pop()
            up = os.open("..", _DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = up
            _rmdir_at(fd, child)
    finally:
        os.close(fd)
    _rmdir_at(top, name)


def _open_at(parent: int, name: str) -> int:
    """``name`` in ``parent`` opened as a directory; -1 if it is gone."""
    try:
        return os.open(name, _DIRECTORY, dir_fd=parent)
    except FileNotFoundError:
        return -1
    except PermissionError:  # left unreadable by a rootless unpack: we own it, so open it up
        os.chmod(name, 0o700, dir_fd=parent, follow_symlinks=False)
        return os.open(name, _DIRECTORY, dir_fd=parent)


def _empty_but_subdirectories(fd: int) -> list[str]:
    """Unlink everything in the open directory ``fd`` except subdirectories; returns their names."""
    subdirectories = []
    with os.scandir(fd) as it:
        entries = list(it)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            subdirectories.append(entry.name)
        else:
            _unlink_at(fd, entry.name)
    return subdirectories


def _unlink_at(fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        pass
    except PermissionError:  # a directory a rootless unpack left read-only
        os.chmod(fd, 0o700)
        os.unlink(name, dir_fd=fd)


def _rmdir_at(fd: int, name: str) -> None:
    try:
        os.rmdir(name, dir_fd=fd)
    except FileNotFoundError:
        pass
    except PermissionError:
        os.chmod(fd, 0o700)
        os.rmdir(name, dir_fd=fd)


def usage(path: str) -> Usage:
    """Bytes allocated and inodes used under ``path`` (hardlinks counted once)."""
    seen: set[tuple[int, int]] = set()
    size = inodes = 0
    cursor = Cursor(path)
    try:
        pending = [""]
        while pending:
            rel = pending.pop()
            with os.scandir(cursor.path(rel)) as it:
                for entry in it:
                    st = entry.stat(follow_symlinks=False)
                    is_dir = stat.S_ISDIR(st.st_mode)
                    if st.st_nlink > 1 and not is_dir:
                        if (st.st_dev, st.st_ino) in seen:
                            continue
                        seen.add((st.st_dev, st.st_ino))
                    inodes += 1
                    size += st.st_blocks * 512
                    if is_dir:
                        pending.append(f"{rel}/{entry.name}" if rel else entry.name)
    finally:
        cursor.close()
    return Usage(size, inodes)


def _copy_xattrs(source: str, target: str) -> None:
    try:
        names = os.listxattr(source, follow_symlinks=False)
    except OSError:
        return
    for name in names:
        os.setxattr(target, name, os.getxattr(source, name, follow_symlinks=False), follow_symlinks=False)


def _copy_data(source: str, target: str) -> None:
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            while os.copy_file_range(src, dst, 1 << 30):
                pass
        finally:
            os.close(dst)
    finally:
        os.close(src)


def copy_tree(source: str, target: str, *, chown: bool = True) -> None:
    """Copy the tree at ``source`` into the existing empty directory ``target``, faithfully.

    ``chown=False`` (not root) leaves owners as the caller. Both trees are walked with
    :class:`~.cursor.Cursor` descriptors, so a tree deeper than ``PATH_MAX`` copies too.
    """
    src, dst, linked = Cursor(source), Cursor(target), Cursor(target)
    try:
        _copy_tree(src, dst, linked, chown)
        _copy_attributes(source, target, os.lstat(source), chown)
    finally:
        for cursor in (src, dst, linked):
            cursor.close()


def _copy_tree(src: Cursor, dst: Cursor, linked: Cursor, chown: bool) -> None:
    links: dict[tuple[int, int], tuple[str, str]] = {}  # an inode's first copy: directory and name
    directories: list[tuple[str, str, os.stat_result]] = []  # (parent, name, stat) below the top
    pending = [""]
    while pending:
        rel = pending.pop()
        with os.scandir(src.path(rel)) as it:
            entries = [(entry.name, entry.stat(follow_symlinks=False)) for entry in it]
        for name, st in entries:
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                os.mkdir(dst.path(rel, name), 0o700)
                directories.append((rel, name, st))
                pending.append(f"{rel}/{name}" if rel else name)
                continue
            target = dst.path(rel, name)
            if st.st_nlink > 1:
                first = links.get((st.st_dev, st.st_ino))
                if first is not None:
                    os.link(linked.path(*first), target, follow_symlinks=False)
                    continue
                links[(st.st_dev, st.st_ino)] = (rel, name)
            source = src.path(rel, name)
            if stat.S_ISREG(mode):
                _copy_data(source, target)
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(source), target)
            elif stat.S_ISFIFO(mode):
                os.mkfifo(target, 0o600)
            else:
                os.mknod(target, stat.S_IFMT(mode) | 0o600, st.st_rdev)
            _copy_attributes(source, target, st, chown)
    for rel, name, st in reversed(directories):  # children first: their creation moved the mtimes
        _copy_attributes(src.path(rel, name), dst.path(rel, name), st, chown)


def _copy_attributes(src: str, dst: str, st: os.stat_result, chown: bool) -> None:
    """Owner (which clears setuid bits and capabilities), then xattrs, mode and times."""
    if chown:
        os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    _copy_xattrs(src, dst)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
