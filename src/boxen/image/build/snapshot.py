"""The snapshots a build step works on: prepared, mounted, turned into a layer, committed.

Every ``RUN``, ``COPY`` and ``ADD`` follows containerd's snapshot lifecycle
(:mod:`boxen.image.snapshots`):

1. **prepare** an active snapshot on the parent layer's committed snapshot (named by its chain
   ID; no parent for the first layer of ``FROM scratch``);
2. **mount** it on a directory (:func:`boxen.runtime.host.mount_all`): with overlayfs, the
   image so far read-only below, an empty upper directory on top that receives every change;
3. let the step change the files (run a container on it, copy files into it), then unmount;
4. **diff**: the changes become a tar layer (:func:`boxen.image.diff.diff_snapshot`: the upper
   directory itself, overlayfs whiteouts turned into ``.wh.`` entries), compressed and
   written into the content store, verified by digest on commit;
5. **commit** the snapshot under the new chain ID, ``sha256(parent chain ID + " " + diff ID)``,
   so the next step, the next build, or an unpack of the pushed image finds it.

A step that fails at any point removes its active snapshot (unmounting first), so nothing of
it is left; an interrupted ingest is aborted. :meth:`Workspace.view` mounts a committed
snapshot read-only, for ``COPY --from``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator

from boxen.common.errors import AlreadyExists, NotFound
from boxen.common.record import Record
from boxen.oci import image as oci

MEDIA_TYPES = {"gzip": oci.OCI_LAYER_GZIP, "zstd": oci.OCI_LAYER_ZSTD, "none": oci.OCI_LAYER}


class Layer(Record):
    """A layer a step made: its blob, its diff ID and the chain ID of its snapshot."""

    descriptor: oci.Descriptor
    diff_id: str
    chain_id: str


def chain_id(parent: str | None, diff_id: str) -> str:
    """The chain ID of a layer with ``diff_id`` on top of the chain ``parent``."""
    if parent is None:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


class Workspace:
    """Snapshots and mount points of one build, under a temporary directory of its own."""

    def __init__(self, snapshotter, content, directory: str, *, compression: str = "gzip", explain=None) -> None:
        self.snapshotter = snapshotter
        self.content = content
        self.directory = directory
        self.compression = compression
        self.explain = explain

    def say(self, text: str) -> None:
        if self.explain is not None:
            self.explain(text)

    def mkdtemp(self, prefix: str) -> str:
        path = os.path.join(self.directory, f"{prefix}-{os.urandom(4).hex()}")
        os.mkdir(path, 0o700)
        return path

    @contextlib.contextmanager
    def mounted(self, mounts, target: str) -> Iterator[str]:
        """``mounts`` mounted on ``target`` for the duration (always unmounted after)."""
        from boxen.runtime.host import mount_all, unmount

        os.makedirs(target, 0o755, exist_ok=True)
        mount_all(mounts, target)
        try:
            yield target
        finally:
            for _ in mounts:
                unmount(target)

    @contextlib.contextmanager
    def active(self, parent: str | None, what: str) -> Iterator[tuple[str, list]]:
        """A new active snapshot on ``parent``: ``(key, mounts)``; removed unless committed."""
        key = f"build-{os.getpid()}-{os.urandom(4).hex()} {what}"
        mounts = self.snapshotter.prepare(key, parent)
        self.say(f"  prepared snapshot {key!r} on {parent or 'nothing'}: "
                 + ", ".join(f"{m.type} {' '.join(m.options) or m.source}" for m in mounts))
        try:
            yield key, mounts
        except BaseException:
            try:
                self.snapshotter.remove(key)
            except NotFound:
                pass
            raise

    @contextlib.contextmanager
    def view(self, chain: str | None, what: str) -> Iterator[str]:
        """The committed snapshot ``chain`` mounted read-only on a temporary directory."""
        from boxen.image.layers import remove_tree

        key = f"build-view-{os.getpid()}-{os.urandom(4).hex()} {what}"
        mounts = self.snapshotter.view(key, chain)
        target = self.mkdtemp("view")
        try:
            with self.mounted(mounts, target):
                yield target
        finally:
            self.snapshotter.remove(key)
            remove_tree(target)

    def commit(self, key: str, parent: str | None) -> Layer:
        """Turn active snapshot ``key`` into a layer in the content store, and commit it."""
        from boxen.image.diff import diff_snapshot

        ref = f"build-{os.urandom(8).hex()}"
        writer = self.content.writer(ref)
        try:
            with writer:
                result = diff_snapshot(self.snapshotter, key, writer, compression=self.compression)
                writer.commit(result.size, result.digest, {"containerd.io/uncompressed": result.diff_id})
        except BaseException:
            with contextlib.suppress(NotFound):
                self.content.abort(ref)
            raise
        chain = chain_id(parent, result.diff_id)
        self.say(f"  layer {result.digest} ({result.compression}, {result.size} bytes, {result.entries} entries, "
                 f"{result.whiteouts} whiteouts): diff ID {result.diff_id}")
        try:
            self.snapshotter.commit(chain, key)
            self.say(f"  committed snapshot {chain}")
        except AlreadyExists:
            self.snapshotter.remove(key)
            self.say(f"  snapshot {chain} exists already (same parent, same changes): kept that one")
        descriptor = oci.Descriptor(MEDIA_TYPES[self.compression], result.digest, result.size)
        return Layer(descriptor, result.diff_id, chain)

    def committed(self, chain: str) -> bool:
        from boxen.image.snapshots import COMMITTED

        try:
            return self.snapshotter.stat(chain).kind == COMMITTED
        except NotFound:
            return False
