"""Where the image layer keeps its state: the data root.

Everything lives under one directory, ``/var/lib/boxen`` by default, ``$BOXEN_ROOT`` when it
is set, or the ``--root`` a command is given, so tests and benchmarks run side by side in
temporary roots::

    <root>/content/        the content store (blobs/, ingest/, labels/)
    <root>/snapshots/      the snapshotter's directories and metadata
    <root>/images.db       image records (SQLite)
    <root>/reserve         1 MiB kept allocated, given up for images.db on a full disk
    <root>/registries.json per-registry configuration (mirrors, insecure registries)
    <root>/certs.d/        per-registry CA certificates and client keys, as docker's certs.d
    <root>/gc.lock         held shared by every writer, exclusively by garbage collection

Garbage collection deletes what no image references, so it must not run while a pull has
stored blobs that no image names yet: pulls, loads and builds hold ``gc.lock`` shared and
``prune`` takes it exclusively (containerd solves the same race with leases).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from boxen.common.record import Record

DEFAULT_ROOT = "/var/lib/boxen"


class Root(Record):
    """The data root and the paths inside it."""

    path: str

    @property
    def content(self) -> str:
        return os.path.join(self.path, "content")

    @property
    def snapshots(self) -> str:
        return os.path.join(self.path, "snapshots")

    @property
    def images_db(self) -> str:
        return os.path.join(self.path, "images.db")

    @property
    def registries(self) -> str:
        return os.path.join(self.path, "registries.json")

    @property
    def certs_d(self) -> str:
        return os.path.join(self.path, "certs.d")

    @contextlib.contextmanager
    def gc_lock(self, *, exclusive: bool = False) -> Iterator[None]:
        """Hold the GC lock: shared for writers, exclusive for garbage collection."""
        os.makedirs(self.path, exist_ok=True)
        fd = os.open(os.path.join(self.path, "gc.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)


def disk_full(exc: Exception, path: str) -> Exception | None:
    """A clear error for SQLite's "database or disk is full" (``SQLITE_FULL``), else ``None``.

    SQLite appends every change to its write-ahead log first, so on a full file system even a
    deletion fails until something else frees space.
    """
    if "full" not in str(exc):
        return None
    import errno

    from boxen.common.errors import kernel_error

    return kernel_error(errno.ENOSPC, "write", path, "the data root's file system is full: free space, then "
                        "run `boxen-image prune` to remove what failed work left")


def resolve(path: str | None = None) -> Root:
    """The data root: ``path`` if given, else ``$BOXEN_ROOT``, else ``/var/lib/boxen``."""
    return Root(os.path.abspath(path or os.environ.get("BOXEN_ROOT") or DEFAULT_ROOT))
