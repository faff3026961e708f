"""The overlayfs snapshotter: each layer stored once, each container's changes in its own directory.

overlayfs merges directories: ``mount -t overlay overlay -o
lowerdir=L1:L2,upperdir=U,workdir=W target`` shows the union of ``U`` over ``L1`` over ``L2``
(leftmost lower on top). Reads fall through to the first directory that has the name;
writes go to ``U`` (a file of a lower layer is first copied up whole); a deletion leaves a
*whiteout* in ``U``, a character device 0/0, and a directory that must hide everything
beneath it carries the ``trusted.overlay.opaque=y`` attribute. ``W`` is scratch space on
``U``'s file system for the kernel's atomic renames.

So a committed snapshot is just a directory of one layer's files, in that upper-directory
format, and the mounts of a snapshot are its ancestors' directories as lowers:

=====================  ==========================================================
active, no parent      ``bind`` of its directory, read-write
active, parents        ``overlay``: upperdir = its directory, lowerdir = ancestors
view, no parent        ``bind`` of its (empty) directory, read-only
view, one parent       ``bind`` of the parent's directory, read-only
view, several parents  ``overlay`` with lowerdir only (read-only by construction)
=====================  ==========================================================

This module never mounts: the mounts are returned as data, like containerd's overlayfs
snapshotter. ``index=off`` keeps the lower directories usable by other mounts at the same
time (overlayfs's inode index would tie them to one upper).
"""

from __future__ import annotations

import os

from boxen.common.errors import InvalidArgument
from boxen.image.layers.tree import remove_tree
from boxen.image.snapshots import ACTIVE, Mount
from boxen.image.snapshots.base import DirectorySnapshotter
from boxen.image.snapshots.metadata import SnapshotRow


class OverlaySnapshotter(DirectorySnapshotter):
    """Snapshots as overlayfs layers under ``root`` (see the module docstring)."""

    kind = "overlay"

    def __init__(self, root: str) -> None:
        if any(c in os.path.abspath(root) for c in ",:\\"):
            raise InvalidArgument("overlayfs mount options cannot name a path with ',', ':' or '\\'",
                                  field="root")
        super().__init__(root)

    def _work(self, row: SnapshotRow) -> str:
        return f"{self._snapshots}/{row.id}/work"

    def _populate(self, row: SnapshotRow, parents: list[SnapshotRow]) -> None:
        os.mkdir(self.fs(row), 0o755)
        if row.kind == ACTIVE:
            os.mkdir(self._work(row), 0o700)

    def _committed(self, row: SnapshotRow) -> None:
        remove_tree(self._work(row))

    def _mounts(self, row: SnapshotRow, parents: list[SnapshotRow]) -> list[Mount]:
        lowers = ":".join(self.fs(p) for p in parents)
        if row.kind == ACTIVE:
            if not parents:
                return [Mount("bind", self.fs(row), ("rbind", "rw"))]
            return [Mount("overlay", "overlay", ("index=off", f"workdir={self._work(row)}",
                                                 f"upperdir={self.fs(row)}", f"lowerdir={lowers}"))]
        if not parents:
            return [Mount("bind", self.fs(row), ("rbind", "ro"))]
        if len(parents) == 1:
            return [Mount("bind", self.fs(parents[0]), ("rbind", "ro"))]
        return [Mount("overlay", "overlay", ("index=off", f"lowerdir={lowers}"))]
