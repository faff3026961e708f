"""Layers from file systems: what changed between two trees, written as a tar layer.

A build step runs a command on a snapshot and commits what it changed as a new layer. The
change set is found one of two ways:

* **two trees** (:func:`write_diff` with ``lower`` and ``upper``, as with the native
  snapshotter): walk ``upper``; a path missing from ``lower``, or whose type, mode, owner,
  size, mtime, link target, device number or extended attributes differ, is written in full;
  a path of ``lower`` missing from ``upper`` becomes a whiteout ``.wh.<name>``;
* **an overlayfs upper directory** (``overlay=True``): the upper directory *is* the change
  set, in overlayfs's words: every file in it is written, a character device 0/0 becomes a
  whiteout, and a directory marked ``trusted.overlay.opaque=y`` gets an ``.wh..wh..opq``
  entry.

The archive is **reproducible**: the same trees give the same bytes, so a build cache can
name a layer by its digest. Entries are in a fixed order (each directory's whiteouts first,
as the image spec recommends, then its entries by name, depth first, a directory before its
contents); the parents of every changed entry are written too, so applying the layer
recreates their attributes; user and group names are left empty (only numbers travel);
times keep their nanoseconds in pax records; a file reached again by a hardlink is written
once and linked after; gzip headers carry no name and no time.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import stat
import tarfile
import zlib
from typing import Any, BinaryIO

from boxen.common.errors import Unimplemented
from boxen.common.record import Record
from boxen.image.layers.apply import WHITEOUT_OPAQUE, WHITEOUT_PREFIX
from boxen.image.layers.cursor import Cursor
from boxen.image.layers.paths import is_opaque, is_whiteout

GZIP = "gzip"
ZSTD = "zstd"
NONE = "none"


class DiffResult(Record):
    """The layer written: its diff ID (uncompressed), its digest and size as written, what it holds."""

    diff_id: str
    digest: str
    size: int
    compression: str
    entries: int
    whiteouts: int


class _Sink(io.RawIOBase):
    """Hashes the tar (diff ID), compresses it, hashes and counts what reaches ``out``."""

    _compress: Any

    def __init__(self, out: BinaryIO, compression: str) -> None:
        super().__init__()
        self.out = out
        self.tar_hash = hashlib.sha256()
        self.blob_hash = hashlib.sha256()
        self.size = 0
        if compression == GZIP:
            self._compress = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # header: no name, mtime 0
        elif compression == ZSTD:
            import zstandard

            self._compress = zstandard.ZstdCompressor(level=3).compressobj()
        else:
            self._compress = None

    def _emit(self, data: bytes) -> None:
        if data:
            self.blob_hash.update(data)
            self.size += len(data)
            self.out.write(data)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.tar_hash.update(data)
        self._emit(self._compress.compress(data) if self._compress else bytes(data))
        return len(data)

    def finish(self) -> None:
        """Flush the compressor's last bytes to ``out``."""
        if self._compress is not None:
            self._emit(self._compress.flush())


def _xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in sorted(names) if not n.startswith("trusted.overlay.")}


def _same(a: os.stat_result, b: os.stat_result, a_path: str, b_path: str) -> bool:
    if (a.st_mode, a.st_uid, a.st_gid) != (b.st_mode, b.st_uid, b.st_gid):
        return False
    if stat.S_ISDIR(a.st_mode):
        return a.st_mtime_ns == b.st_mtime_ns and _xattrs(a_path) == _xattrs(b_path)
    if (a.st_size, a.st_mtime_ns, a.st_rdev) != (b.st_size, b.st_mtime_ns, b.st_rdev):
        return False
    if stat.S_ISLNK(a.st_mode) and os.readlink(a_path) != os.readlink(b_path):
        return False
    return _xattrs(a_path) == _xattrs(b_path)


class _Writer:
    """Writes entries of the tree at ``root``, which ``cursor`` walks (shared with the walk: a
    path it gives is used at once, before the cursor moves again)."""

    def __init__(self, tar: tarfile.TarFile, root: str) -> None:
        self.tar = tar
        self.root = root
        self.cursor = Cursor(root)
        self.links: dict[tuple[int, int], str] = {}
        self.written: set[str] = set()
        self.entries = 0
        self.whiteouts = 0

    def _info(self, rel: str, st: os.stat_result) -> tarfile.TarInfo:
        info = tarfile.TarInfo(rel)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname = info.gname = ""
        seconds, nanos = divmod(st.st_mtime_ns, 1_000_000_000)
        info.mtime = seconds
        if nanos:
            info.pax_headers = {"mtime": f"{seconds}.{nanos:09d}"}
        return info

    def entry(self, rel: str, path: str, st: os.stat_result) -> None:
        """Write the object at ``path`` (a short path, see :mod:`.layers.cursor`) as ``rel``
        (its parents must be written first)."""
        if rel in self.written:
            return
        self.written.add(rel)
        self.entries += 1
        info = self._info(rel, st)
        mode = st.st_mode
        source = None
        if stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
        elif stat.S_ISREG(mode):
            first = self.links.get((st.st_dev, st.st_ino)) if st.st_nlink > 1 else None
            if first is not None:
                info.type, info.linkname = tarfile.LNKTYPE, first
            else:
                if st.st_nlink > 1:
                    self.links[(st.st_dev, st.st_ino)] = rel
                info.type, info.size, source = tarfile.REGTYPE, st.st_size, path
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        else:
            self.entries -= 1
            return  # sockets do not travel in layers
        xattrs = {f"SCHILY.xattr.{name}": value.decode("utf-8", "surrogateescape")
                  for name, value in _xattrs(path).items()}
        if xattrs:
            info.pax_headers = {**info.pax_headers, **xattrs}
        if source is None:
            self.tar.addfile(info)
        else:
            with open(source, "rb") as data:
                self.tar.addfile(info, data)

    def is_opaque(self, rel: str) -> bool:
        """Whether directory ``rel`` is an overlayfs opaque directory (read through its parent:
        the attribute call does not follow the final component)."""
        if not rel:
            return is_opaque(self.root)
        parent, _, name = rel.rpartition("/")
        return is_opaque(self.cursor.path(parent, name))

    def marker(self, rel_dir: str, name: str) -> None:
        info = tarfile.TarInfo(f"{rel_dir}/{name}" if rel_dir else name)
        info.uname = info.gname = ""
        self.tar.addfile(info)
        self.entries += 1
        self.whiteouts += 1

    def parents(self, rel: str) -> None:
        """Write the directories holding ``rel`` that are not written yet, top down."""
        self.directory(rel.rpartition("/")[0])

    def directory(self, rel: str) -> None:
        """Write directory ``rel`` (``""``: the root, never written) and its parents, if not written yet."""
        if not rel or rel in self.written:
            return
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            if parent not in self.written:
                path = self.cursor.path("/".join(parts[:i - 1]), parts[i - 1])
                self.entry(parent, path, os.lstat(path))


def _listing(cursor: Cursor, rel: str) -> list[tuple[str, os.stat_result]]:
    """The names in directory ``rel`` with their ``lstat``, in byte order."""
    with os.scandir(cursor.path(rel)) as it:
        found = [(e.name, e.stat(follow_symlinks=False)) for e in it]
    return sorted(found, key=lambda item: os.fsencode(item[0]))


def _depth_first(visit) -> None:
    """Run ``visit(rel)`` generators depth first: each yields the subdirectories to enter, in order,
    and waits while each is visited (an explicit stack: trees may be deeper than Python's recursion)."""
    stack = [visit("")]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        else:
            stack.append(visit(child))


def _walk_trees(w: _Writer, lower: Cursor | None) -> None:
    """The writer's tree compared with ``lower``, directory by directory. Both are walked by
    cursor; a directory of the upper tree that is not a directory of the lower one (missing,
    or a symlink there, which a cursor never follows) has no lower entries."""

    def visit(rel: str):
        entries = _listing(w.cursor, rel)
        below: dict[str, os.stat_result] = {}
        if lower is not None:
            try:
                below = dict(_listing(lower, rel))
            except OSError:
                below = {}
        names = {name for name, _ in entries}
        for gone in sorted((name for name in below if name not in names), key=os.fsencode):
            w.directory(rel)
            w.marker(rel, WHITEOUT_PREFIX + gone)
        for name, st in entries:
            child = f"{rel}/{name}" if rel else name
            low_st = below.get(name)
            if low_st is None or lower is None or not _same(st, low_st, w.cursor.path(rel, name),
                                                            lower.path(rel, name)):
                w.parents(child)
                w.entry(child, w.cursor.path(rel, name), st)
            if stat.S_ISDIR(st.st_mode):
                yield child

    _depth_first(visit)


def _walk_upper(w: _Writer) -> None:
    """The writer's tree as an overlayfs upper directory: whiteout devices and opaque
    directories become markers."""

    def visit(rel: str):
        if w.is_opaque(rel):
            w.directory(rel)
            w.marker(rel, WHITEOUT_OPAQUE)
        stats = _listing(w.cursor, rel)
        for name, st in stats:
            if is_whiteout(st):
                w.directory(rel)
                w.marker(rel, WHITEOUT_PREFIX + name)
        for name, st in stats:
            if is_whiteout(st):
                continue
            child = f"{rel}/{name}" if rel else name
            w.parents(child)
            w.entry(child, w.cursor.path(rel, name), st)
            if stat.S_ISDIR(st.st_mode):
                yield child

    _depth_first(visit)


def write_diff(lower: str | None, upper: str, out: BinaryIO, *, overlay: bool = False,
               compression: str = NONE) -> DiffResult:
    """Write the changes from ``lower`` (``None``: nothing) to ``upper`` as a tar layer to ``out``.

    ``overlay=True`` reads ``upper`` as an overlayfs upper directory (``lower`` is not needed).
    ``compression`` is ``none``, ``gzip`` or ``zstd``.
    """
    sink = _Sink(out, compression)
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tar:
        writer = _Writer(tar, upper)
        below = Cursor(lower) if lower is not None and not overlay else None
        try:
            if overlay:
                _walk_upper(writer)
            else:
                _walk_trees(writer, below)
        finally:
            writer.cursor.close()
            if below is not None:
                below.close()
    sink.finish()
    return DiffResult(f"sha256:{sink.tar_hash.hexdigest()}", f"sha256:{sink.blob_hash.hexdigest()}", sink.size,
                      compression, writer.entries, writer.whiteouts)


def diff_snapshot(snapshotter, key: str, out: BinaryIO, *, compression: str = GZIP) -> DiffResult:
    """The layer that active snapshot ``key`` adds to its parent (what a build step commits)."""
    from boxen.image.unpack import apply_target

    info = snapshotter.stat(key)
    upper, overlay, _ = apply_target(snapshotter.mounts(key))
    if overlay or info.parent is None:
        return write_diff(None, upper, out, overlay=overlay, compression=compression)
    view = f"diff-{os.getpid()}-{secrets.token_hex(4)}"
    mounts = snapshotter.view(view, info.parent)
    try:
        if len(mounts) != 1 or mounts[0].type != "bind":
            raise Unimplemented(f"cannot read the parent of {key!r} without mounting {mounts!r}")
        return write_diff(mounts[0].source, upper, out, compression=compression)
    finally:
        snapshotter.remove(view)
