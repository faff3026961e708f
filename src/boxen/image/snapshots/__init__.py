"""Snapshots: the directories layers are unpacked into and containers run on, as containerd has them.

A **snapshot** is a directory tree with a parent. Its lifecycle, from containerd's
snapshotter model::

    prepare(key, parent) --> active --commit(name, key)--> committed --prepare(key2, name)--> ...
    view(key, parent)    --> view (read-only; cannot be committed)

* :meth:`Snapshotter.prepare` makes an **active** snapshot on top of a **committed** parent
  and returns the **mounts** that would show it: the caller applies a layer into it, or runs
  a container on it;
* :meth:`Snapshotter.commit` freezes an active snapshot under a new name. Unpacking names each
  committed layer by its **chain ID** (the digest of the layer stack up to it), so two images
  that share their bottom layers share those snapshots, and an unpack finds what is there already;
* :meth:`Snapshotter.view` is a read-only look at a committed snapshot.

Some active snapshots and views are **work in progress** of one process (an unpack's
``extract-...`` snapshot): labelled :data:`WORK_LABEL`, they belong to the process that made
them, which holds a lock (``flock(2)``) on the snapshot's directory while it lives. The
kernel drops the lock when the process dies, however it dies (``kill -9`` included), so
:meth:`Snapshotter.reap` can tell dead work from live work without trusting process IDs, and
removes the dead, with directories a crash left behind.

Snapshotters never mount anything: they return :class:`Mount` records, data that the caller
(the runtime, a test, :mod:`boxen.image.unpack`) mounts or reads. Two implementations:

* :mod:`.overlay`: each snapshot owns one directory; an active snapshot is overlayfs's
  ``upperdir`` (plus a ``workdir``) over its ancestors' directories as ``lowerdir``, so a
  layer costs only its own files and preparing a container costs nothing;
* :mod:`.native`: each snapshot is a complete copy of its parent, for hosts where overlayfs is
  not available (no root, or a file system overlayfs cannot use as upper layer).

:func:`open_snapshotter` picks one (``auto`` probes overlayfs once, see :mod:`.probe`).
Metadata (names, parents, kinds, labels) lives in SQLite (:mod:`.metadata`). The conformance
suite every implementation passes is :mod:`boxen.image.testing.snapshotter`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is costly to load (bench/RESULTS.md); the protocol is for checkers
    from typing import Protocol
else:
    Protocol = object

from boxen.common.errors import InvalidArgument
from boxen.common.record import Record
from boxen.image.layers.tree import Usage

__all__ = [
    "ACTIVE",
    "COMMITTED",
    "KINDS",
    "VIEW",
    "WORK_LABEL",
    "Mount",
    "SnapshotInfo",
    "Snapshotter",
    "Usage",
    "open_snapshotter",
]

ACTIVE = "active"
VIEW = "view"
COMMITTED = "committed"
KINDS = ("overlay", "native")
#: The label of an active snapshot or view that is one process's work in progress (its value
#: says what the work is); commit drops it (see the module docstring).
WORK_LABEL = "boxen.io/work"


class Mount(Record):
    """One mount, as ``mount -t TYPE -o OPTIONS SOURCE TARGET`` would make it (target chosen by the user)."""

    type: str
    source: str
    options: tuple[str, ...] = ()


class SnapshotInfo(Record):
    """What a snapshotter knows about a snapshot (times are seconds since the epoch)."""

    name: str
    parent: str | None
    kind: str
    labels: dict[str, str]
    created: float
    updated: float


class Snapshotter(Protocol):
    """containerd's snapshotter interface (see the module docstring for the lifecycle)."""

    kind: str  # "overlay" or "native"

    def stat(self, key: str) -> SnapshotInfo:
        """The snapshot ``key``; NotFound if there is none."""

    def prepare(self, key: str, parent: str | None, labels: dict[str, str] | None = None) -> list[Mount]:
        """A new active snapshot ``key`` on the committed ``parent`` (``None``: empty)."""

    def view(self, key: str, parent: str | None, labels: dict[str, str] | None = None) -> list[Mount]:
        """A new read-only snapshot ``key`` of the committed ``parent``."""

    def mounts(self, key: str) -> list[Mount]:
        """The mounts of an active snapshot or a view (FailedPrecondition for a committed one)."""

    def commit(self, name: str, key: str, labels: dict[str, str] | None = None) -> None:
        """Freeze active snapshot ``key`` as committed snapshot ``name``; ``key`` is gone after."""

    def remove(self, key: str) -> None:
        """Remove a snapshot and its files (FailedPrecondition while it has children)."""

    def walk(self) -> Iterator[SnapshotInfo]:
        """Every snapshot, in no particular order."""

    def usage(self, key: str) -> Usage:
        """Disk space and inodes the snapshot's own directory uses (not its parents').

        A committed snapshot is measured the first time this is asked and remembered (its files
        no longer change); commit itself does not walk the tree, so an unpack does not wait for it.
        """

    def set_labels(self, key: str, labels: dict[str, str]) -> SnapshotInfo:
        """Replace the labels of snapshot ``key``."""

    def reap(self) -> list[str]:
        """Remove the work of dead processes (see the module docstring); returns what went."""


def open_snapshotter(root: str, kind: str = "auto") -> Snapshotter:
    """The snapshotter of ``kind`` keeping its state under ``root/<kind>``.

    ``auto`` reuses the kind a previous run chose under ``root``, else probes whether overlayfs
    works here (root, and an overlay mount on ``root``'s file system) and picks ``overlay`` or
    ``native``.
    """
    if kind == "auto":
        from boxen.image.snapshots.probe import choose_kind

        kind = choose_kind(root)
    if kind == "overlay":
        from boxen.image.snapshots.overlay import OverlaySnapshotter

        return OverlaySnapshotter(os.path.join(root, kind))
    if kind == "native":
        from boxen.image.snapshots.native import NativeSnapshotter

        return NativeSnapshotter(os.path.join(root, kind))
    raise InvalidArgument(f"unknown snapshotter {kind!r} (expected auto, overlay or native)", field="snapshotter")
