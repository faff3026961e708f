"""What the overlay and native snapshotters share: metadata, one directory per snapshot, removal.

On disk, under the snapshotter's root::

    metadata.db                 snapshot names, parents, kinds, labels (:mod:`.metadata`)
    snapshots/<id>/fs           the snapshot's own files
    snapshots/<id>/work         overlayfs's work directory (overlay, active snapshots only)
    snapshots/rm-<id>/          a removed snapshot whose files are being deleted

A subclass says how a new snapshot's directory is filled (:meth:`_populate`) and which mounts
show a snapshot (:meth:`_mounts`), given the rows of its ancestors, nearest first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from boxen.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, from_oserror
from boxen.image.layers.tree import Usage, remove_tree, usage
from boxen.image.snapshots import ACTIVE, COMMITTED, VIEW, Mount, SnapshotInfo
from boxen.image.snapshots.metadata import MetadataStore, SnapshotRow


class DirectorySnapshotter:
    """Base of :class:`~.overlay.OverlaySnapshotter` and :class:`~.native.NativeSnapshotter`."""

    kind = ""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._snapshots = os.path.join(self.root, "snapshots")
        os.makedirs(self._snapshots, mode=0o700, exist_ok=True)
        self.metadata = MetadataStore(os.path.join(self.root, "metadata.db"))

    # --- paths --------------------------------------------------------------------------

    def _dir(self, row: SnapshotRow) -> str:
        return f"{self._snapshots}/{row.id}"

    def fs(self, row: SnapshotRow) -> str:
        """The directory holding ``row``'s own files."""
        return f"{self._snapshots}/{row.id}/fs"

    # --- for subclasses ---------------------------------------------------------------------

    def _populate(self, row: SnapshotRow, parents: list[SnapshotRow]) -> None:
        raise NotImplementedError

    def _mounts(self, row: SnapshotRow, parents: list[SnapshotRow]) -> list[Mount]:
        raise NotImplementedError

    def _committed(self, row: SnapshotRow) -> None:
        """Called inside commit's transaction, after the row changed."""

    # --- the Snapshotter interface ------------------------------------------------------------

    def stat(self, key: str) -> SnapshotInfo:
        with self.metadata.transaction() as tx:
            return tx.get(key).info()

    def prepare(self, key: str, parent: str | None, labels: dict[str, str] | None = None) -> list[Mount]:
        return self._create(key, parent, ACTIVE, labels)

    def view(self, key: str, parent: str | None, labels: dict[str, str] | None = None) -> list[Mount]:
        return self._create(key, parent, VIEW, labels)

    def _create(self, key: str, parent: str | None, kind: str, labels: dict[str, str] | None) -> list[Mount]:
        if not isinstance(key, str) or not key:
            raise InvalidArgument("a snapshot key must be a non-empty string", field="key")
        with self.metadata.transaction(write=True) as tx:
            row = tx.insert(key, parent, kind, labels)
            parents = tx.chain(parent) if parent is not None else []
            directory = self._dir(row)
            remove_tree(directory)  # ids of rolled-back inserts are reused: clear a crash's leftovers
            os.mkdir(directory, 0o700)
            try:
                self._populate(row, parents)
            except OSError as exc:
                remove_tree(directory)
                raise from_oserror(exc, f"prepare snapshot {key!r}") from exc
            except BaseException:
                remove_tree(directory)
                raise
            return self._mounts(row, parents)

    def mounts(self, key: str) -> list[Mount]:
        with self.metadata.transaction() as tx:
            row = tx.get(key)
            if row.kind == COMMITTED:
                raise FailedPrecondition(f"snapshot {key!r} is committed: prepare or view one on top of it",
                                         field="key")
            parents = tx.chain(row.parent) if row.parent is not None else []
            return self._mounts(row, parents)

    def commit(self, name: str, key: str, labels: dict[str, str] | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidArgument("a snapshot name must be a non-empty string", field="name")
        with self.metadata.transaction(write=True) as tx:
            row = tx.get(key)
            if row.kind != ACTIVE:
                raise FailedPrecondition(f"snapshot {key!r} is {row.kind}: only active snapshots can be committed",
                                         field="key")
            if tx.find(name) is not None:
                raise AlreadyExists(f"snapshot {name!r} already exists", field="name")
            tx.commit(key, name, labels)
            self._committed(row)

    def remove(self, key: str) -> None:
        with self.metadata.transaction(write=True) as tx:
            row = tx.delete(key)
            directory = self._dir(row)
            doomed = f"{self._snapshots}/rm-{row.id}"
            if os.path.exists(directory):
                os.rename(directory, doomed)
        remove_tree(doomed)

    def walk(self) -> Iterator[SnapshotInfo]:
        with self.metadata.transaction() as tx:
            rows = tx.all()
        for row in rows:
            yield row.info()

    def usage(self, key: str) -> Usage:
        with self.metadata.transaction() as tx:
            row = tx.get(key)
        if row.kind == COMMITTED and row.size is not None:
            return Usage(row.size, row.inodes or 0)
        used = usage(self.fs(row))
        if row.kind == COMMITTED:  # measured when first asked, not at commit: a pull need not wait for it
            with self.metadata.transaction(write=True) as tx:
                tx.set_usage(key, used.size, used.inodes)
        return used

    def set_labels(self, key: str, labels: dict[str, str]) -> SnapshotInfo:
        with self.metadata.transaction(write=True) as tx:
            return tx.set_labels(key, labels).info()

    # --- housekeeping -----------------------------------------------------------------------

    def cleanup(self) -> list[str]:
        """Remove directories no snapshot owns (left by a crash); returns their names."""
        removed = []
        with self.metadata.transaction(write=True) as tx:
            ids = tx.ids()
            for name in os.listdir(self._snapshots):
                if name.startswith("rm-") or not name.isdigit() or int(name) not in ids:
                    remove_tree(f"{self._snapshots}/{name}")
                    removed.append(name)
        return removed

    def close(self) -> None:
        self.metadata.close()
