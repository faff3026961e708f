"""The native snapshotter: every snapshot a complete copy, for hosts without overlayfs.

Where overlayfs cannot be used (not root, or a file system it will not stack on), a snapshot
can still be an ordinary directory: preparing a snapshot on a parent copies the parent's
whole tree (every file type, owners, modes, extended attributes, times and hardlinks, see
:func:`~boxen.image.layers.tree.copy_tree`), and the mount is a bind mount of that copy.
Layers are applied to it natively (a whiteout deletes), and committing keeps the copy as it
is. It costs a full copy of the image per layer and per container, which is what overlayfs
saves; a view needs no copy, because a read-only bind mount of the parent cannot change it.
"""

from __future__ import annotations

import os

from boxen.image.layers.tree import copy_tree
from boxen.image.snapshots import ACTIVE, Mount
from boxen.image.snapshots.base import DirectorySnapshotter
from boxen.image.snapshots.metadata import SnapshotRow


class NativeSnapshotter(DirectorySnapshotter):
    """Snapshots as full copies under ``root`` (see the module docstring)."""

    kind = "native"

    def _populate(self, row: SnapshotRow, parents: list[SnapshotRow]) -> None:
        os.mkdir(self.fs(row), 0o755)
        if row.kind == ACTIVE and parents:
            copy_tree(self.fs(parents[0]), self.fs(row), chown=os.geteuid() == 0)

    def _mounts(self, row: SnapshotRow, parents: list[SnapshotRow]) -> list[Mount]:
        if row.kind == ACTIVE:
            return [Mount("bind", self.fs(row), ("rbind", "rw"))]
        source = self.fs(parents[0]) if parents else self.fs(row)
        return [Mount("bind", source, ("rbind", "ro"))]
