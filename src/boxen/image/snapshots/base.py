"""What the overlay and native snapshotters share: metadata, one directory per snapshot, removal.

On disk, under the snapshotter's root::

    metadata.db                 snapshot names, parents, kinds, labels (:mod:`.metadata`)
    snapshots/<id>/fs           the snapshot's own files
    snapshots/<id>/work         overlayfs's work directory (overlay, active snapshots only)
    snapshots/rm-<id>/          a removed snapshot whose files are being deleted

Removal and work in progress rest on ``flock(2)`` on a snapshot's directory: the process
that made a :data:`~boxen.image.snapshots.WORK_LABEL` snapshot holds it until it commits or
removes it, and a removal holds it while the files go, through the rename to ``rm-<id>``
(a lock belongs to the directory, not to its name). A lock that can be taken at once is a
dead process's: :meth:`DirectorySnapshotter.reap` removes such work, and
:meth:`DirectorySnapshotter.cleanup` the directories no row names and the ``rm-`` directories
no live removal holds. Removing an active snapshot or a view deletes its files *before* its
row, so that on a full disk, where SQLite cannot write until something is freed, the space
comes back first; a committed snapshot loses its row first, so that no reader finds a row
whose files are gone.

A subclass says how a new snapshot's directory is filled (:meth:`_populate`) and which mounts
show a snapshot (:meth:`_mounts`), given the rows of its ancestors, nearest first.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator

from boxen.common.errors import (
    AlreadyExists,
    BoxenError,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    from_oserror,
)
from boxen.image.layers.tree import Usage, remove_tree, usage
from boxen.image.snapshots import ACTIVE, COMMITTED, VIEW, WORK_LABEL, Mount, SnapshotInfo
from boxen.image.snapshots.metadata import MetadataStore, SnapshotRow


class DirectorySnapshotter:
    """Base of :class:`~.overlay.OverlaySnapshotter` and :class:`~.native.NativeSnapshotter`."""

    kind = ""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._snapshots = os.path.join(self.root, "snapshots")
        os.makedirs(self._snapshots, mode=0o700, exist_ok=True)
        self.metadata = MetadataStore(os.path.join(self.root, "metadata.db"))
        self._held: dict[int, int] = {}  # snapshot id -> locked descriptor of its directory (our work)

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
        lock, directory = -1, None
        try:
            with self.metadata.transaction(write=True) as tx:
                row = tx.insert(key, parent, kind, labels)
                parents = tx.chain(parent) if parent is not None else []
                directory = self._dir(row)
                remove_tree(directory)  # ids of rolled-back inserts are reused: clear a crash's leftovers
                os.mkdir(directory, 0o700)
                if labels and WORK_LABEL in labels:
                    lock = _lock(directory)
                self._populate(row, parents)
                mounts = self._mounts(row, parents)
        except BaseException as exc:  # the row is rolled back: its directory goes too
            _unlock(lock)
            if directory is not None:
                remove_tree(directory)
            if isinstance(exc, OSError):
                raise from_oserror(exc, f"prepare snapshot {key!r}") from exc
            raise
        if lock >= 0:
            self._held[row.id] = lock
        return mounts

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
        _unlock(self._held.pop(row.id, -1))

    def remove(self, key: str) -> None:
        with self.metadata.transaction() as tx:
            row = tx.get(key)
        lock = self._take(row)
        try:
            if row.kind == COMMITTED:
                with self.metadata.transaction(write=True) as tx:
                    tx.delete(key, row.id)
                self._remove_files(row)
            else:  # files first: on a full disk, the row can only go once space is freed
                self._remove_files(row)
                with self.metadata.transaction(write=True) as tx:
                    tx.delete(key, row.id)
        finally:
            _unlock(lock)

    def _take(self, row: SnapshotRow) -> int:
        """The lock on ``row``'s directory: ours if we hold it, else taken now (Conflict if a live
        process holds it); -1 if the directory is gone."""
        held = self._held.pop(row.id, -1)
        if held >= 0:
            return held
        try:
            return _lock(self._dir(row))
        except FileNotFoundError:
            return -1
        except BlockingIOError:
            raise Conflict(f"snapshot {row.name!r} is in use by a running process", field="key") from None

    def _remove_files(self, row: SnapshotRow) -> None:
        directory, doomed = self._dir(row), f"{self._snapshots}/rm-{row.id}"
        try:
            os.rename(directory, doomed)
        except FileNotFoundError:
            return
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

    def reap(self) -> list[str]:
        """Remove the work of dead processes and what crashes left (see the module docstring)."""
        with self.metadata.transaction() as tx:
            rows = [r for r in tx.all() if r.kind != COMMITTED and WORK_LABEL in r.labels]
        reaped = []
        for row in rows:
            if row.id in self._held:
                continue  # our own, and we are alive
            try:
                lock = _lock(self._dir(row))
            except FileNotFoundError:
                lock = -1
            except BlockingIOError:
                continue  # a live process's
            self._held[row.id] = lock
            try:
                self.remove(row.name)
            except BoxenError:  # gone meanwhile, or (a full disk) not removable now: a later reap retries
                _unlock(self._held.pop(row.id, -1))
                continue
            reaped.append(row.name)
        return reaped + self.cleanup()

    def cleanup(self) -> list[str]:
        """Remove directories no snapshot owns (left by a crash) and removals a crash
        interrupted, but never a directory a live process holds; returns their names."""
        removed = []
        with self.metadata.transaction(write=True) as tx:
            ids = tx.ids()
            for name in os.listdir(self._snapshots):
                if name.isdigit() and int(name) in ids:
                    continue
                path = f"{self._snapshots}/{name}"
                try:
                    lock = _lock(path)
                except BlockingIOError:
                    continue  # being removed by a live process
                except (FileNotFoundError, NotADirectoryError):
                    lock = -1
                try:
                    remove_tree(path)
                finally:
                    _unlock(lock)
                removed.append(name)
        return removed

    def close(self) -> None:
        for lock in self._held.values():
            _unlock(lock)
        self._held.clear()
        self.metadata.close()


def _lock(directory: str) -> int:
    """An exclusive ``flock`` on ``directory``, taken at once (BlockingIOError if held elsewhere)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _unlock(fd: int) -> None:
    if fd >= 0:
        os.close(fd)
