"""Whole directory trees: remove, copy faithfully, measure.

Root file systems are deep and adversarial (a layer can nest directories thousands deep, or
leave a directory without write permission), so these walks are iterative rather than
recursive, never follow symlinks, and remove what a rootless unpack made read-only by giving
the owner write permission back first.

:func:`copy_tree` is what a copying snapshotter needs instead of overlayfs: every file type,
owners, modes (setuid included), extended attributes, nanosecond times, and hardlinks kept as
hardlinks, with file data moved by ``copy_file_range(2)`` inside the kernel.
"""

from __future__ import annotations

import os
import stat

from boxen.common.record import Record


class Usage(Record):
    """Disk usage of a tree: bytes of data (a hardlinked file counted once) and inodes."""

    size: int
    inodes: int


def remove_tree(path: str) -> None:
    """Remove ``path`` and everything beneath it; what is already gone is fine."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        _unlink(path)
        return
    pending = [path]
    directories = []
    while pending:
        directory = pending.pop()
        directories.append(directory)
        for entry in _entries(directory):
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
            else:
                _unlink(entry.path)
    for directory in reversed(directories):
        try:
            os.rmdir(directory)
        except FileNotFoundError:
            pass
        except PermissionError:
            os.chmod(os.path.dirname(directory), 0o700)
            os.rmdir(directory)


def _entries(directory: str) -> list[os.DirEntry]:
    try:
        with os.scandir(directory) as it:
            return list(it)
    except FileNotFoundError:
        return []
    except PermissionError:  # left read-only by a rootless unpack: we own it, so open it up
        os.chmod(directory, 0o700)
        with os.scandir(directory) as it:
            return list(it)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except PermissionError:
        os.chmod(os.path.dirname(path), 0o700)
        os.unlink(path)


def usage(path: str) -> Usage:
    """Bytes allocated and inodes used under ``path`` (hardlinks counted once)."""
    seen: set[tuple[int, int]] = set()
    size = inodes = 0
    pending = [path]
    while pending:
        directory = pending.pop()
        with os.scandir(directory) as it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                if st.st_nlink > 1 and not entry.is_dir(follow_symlinks=False):
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                inodes += 1
                size += st.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
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

    ``chown=False`` (not root) leaves owners as the caller.
    """
    links: dict[tuple[int, int], str] = {}
    directories: list[tuple[str, str, os.stat_result]] = [(source, target, os.lstat(source))]
    pending = [(source, target)]
    while pending:
        src_dir, dst_dir = pending.pop()
        with os.scandir(src_dir) as it:
            entries = list(it)
        for entry in entries:
            src, dst = entry.path, f"{dst_dir}/{entry.name}"
            st = entry.stat(follow_symlinks=False)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                os.mkdir(dst, 0o700)
                directories.append((src, dst, st))
                pending.append((src, dst))
                continue
            if st.st_nlink > 1:
                first = links.get((st.st_dev, st.st_ino))
                if first is not None:
                    os.link(first, dst, follow_symlinks=False)
                    continue
                links[(st.st_dev, st.st_ino)] = dst
            if stat.S_ISREG(mode):
                _copy_data(src, dst)
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(src), dst)
            elif stat.S_ISFIFO(mode):
                os.mkfifo(dst, 0o600)
            else:
                os.mknod(dst, stat.S_IFMT(mode) | 0o600, st.st_rdev)
            _copy_attributes(src, dst, st, chown)
    for src, dst, st in reversed(directories):  # children first: their creation moved the mtimes
        _copy_attributes(src, dst, st, chown)


def _copy_attributes(src: str, dst: str, st: os.stat_result, chown: bool) -> None:
    """Owner (which clears setuid bits and capabilities), then xattrs, mode and times."""
    if chown:
        os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    _copy_xattrs(src, dst)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
