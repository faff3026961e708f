"""Garbage collection: remove the blobs and snapshots that no image references.

Removing an image removes only its name; its content may be shared with other images. What
may go is found by **mark and sweep**, as containerd's garbage collector does:

* **mark** from the roots, the targets of all image records: an index marks its manifests,
  a manifest its config and layers, a config the *chain IDs* of its layers (the names of the
  committed snapshots the layers were unpacked into). A snapshot in use (active, or a view)
  is a root too, and every kept snapshot keeps its parents;
* **sweep** every blob and committed snapshot that was not marked, children before parents,
  and ingests left over from interrupted downloads older than a grace period (``prune`` and
  ``rm`` give none: under the exclusive lock no download is running).

Before marking, :func:`collect` has the snapshotter **reap** the work of dead processes (an
unpack killed midway leaves an active snapshot; see :mod:`boxen.image.snapshots`).

Content referenced by an image but missing (an index whose other platforms were never
pulled) is simply not there to mark. The plan is computed first (:func:`plan`), so
``prune --dry-run`` and ``--explain`` show it, then executed (:func:`collect`). Callers hold
the data root's GC lock exclusively (:meth:`boxen.image.root.Root.gc_lock`), so no pull can
add unreferenced blobs meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from boxen.common.errors import InvalidArgument, NotFound
from boxen.common.record import Record
from boxen.image import content as contents
from boxen.image.store import ImageStore, read_document
from boxen.oci import image as oci

#: Ingests untouched for this long are abandoned downloads.
INGEST_GRACE = 24 * 3600.0
#: The grace for callers holding the GC lock exclusively: no writer can be running, so every
#: ingest is an interrupted download (resumable, but only until the user asks for the space).
NO_WRITERS = -1.0


class Plan(Record):
    blobs: tuple[str, ...]
    freed: int
    snapshots: tuple[str, ...]
    ingests: tuple[str, ...]
    reaped: tuple[str, ...] = ()  # work of dead processes removed first (see Snapshotter.reap)


def _mark(content, roots: Iterable[oci.Descriptor], chain_ids: Callable[[Sequence[str]], list[str]] | None
          ) -> tuple[set[str], set[str]]:
    blobs: set[str] = set()
    snapshots: set[str] = set()
    pending = list(roots)
    while pending:
        d = pending.pop()
        if d.digest in blobs or not contents.exists(content, d.digest):
            continue
        blobs.add(d.digest)
        try:
            if d.mediaType in oci.INDEX_TYPES:
                pending.extend(read_document(content, d, oci.Index).manifests)
            elif d.mediaType in oci.MANIFEST_TYPES:
                manifest = read_document(content, d, oci.Manifest)
                pending.append(manifest.config)
                pending.extend(manifest.layers)
            elif d.mediaType in oci.CONFIG_TYPES and chain_ids is not None:
                config = read_document(content, d, oci.ImageConfig)
                snapshots.update(chain_ids(config.rootfs.diff_ids))
        except (InvalidArgument, NotFound):
            continue  # a document that does not parse references nothing; it is kept, being a root's
    return blobs, snapshots


def _snapshot_plan(snapshotter, marked: set[str]) -> list[str]:
    infos = {info.name: info for info in snapshotter.walk()}
    keep: set[str] = set()
    for name, info in infos.items():
        if name in marked or info.kind != "committed":
            while name and name not in keep:
                keep.add(name)
                name = infos[name].parent if name in infos else None
    doomed = [n for n, i in infos.items() if n not in keep and i.kind == "committed"]

    def depth(name: str) -> int:
        n = 0
        while name in infos and infos[name].parent:
            name, n = infos[name].parent, n + 1
        return n

    return sorted(doomed, key=depth, reverse=True)


def plan(content, images: ImageStore, snapshotter=None, *, chain_ids=None, now: float | None = None,
         ingest_grace: float = INGEST_GRACE) -> Plan:
    """What a collection would remove, without removing anything."""
    if snapshotter is not None and chain_ids is None:
        from boxen.image.unpack import chain_ids

    marked_blobs, marked_snapshots = _mark(content, (i.target for i in images.list()), chain_ids)
    doomed = [info for info in content.walk() if info.digest not in marked_blobs]
    snapshots = _snapshot_plan(snapshotter, marked_snapshots) if snapshotter is not None else []
    now = time.time() if now is None else now
    ingests = [s.ref for s in content.statuses() if now - s.updated_at > ingest_grace]
    return Plan(tuple(i.digest for i in doomed), sum(i.size for i in doomed), tuple(snapshots), tuple(ingests))


def collect(content, images: ImageStore, snapshotter=None, *, chain_ids=None, explain=None,
            ingest_grace: float = INGEST_GRACE) -> Plan:
    """Remove everything :func:`plan` finds; returns the plan carried out.

    The work of dead processes goes first (it may hold the parents of unreferenced snapshots),
    then ingests and blobs, which free space without writing anything, so that on a full disk
    the snapshots' metadata can be written when their turn comes.
    """
    say = explain or (lambda text: None)
    reaped = tuple(snapshotter.reap()) if snapshotter is not None else ()
    for name in reaped:
        say(f"removed {name} (work of a process that is gone)")
    p = plan(content, images, snapshotter, chain_ids=chain_ids, ingest_grace=ingest_grace).replace(reaped=reaped)
    for ref in p.ingests:
        say(f"abort ingest {ref} (untouched for more than {ingest_grace:.0f}s)")
        try:
            content.abort(ref)
        except NotFound:
            continue
    for digest in p.blobs:
        say(f"remove blob {digest} (no image references it)")
        try:
            content.delete(digest)
        except NotFound:
            continue
    for name in p.snapshots:
        say(f"remove snapshot {name} (no image's layers chain to it)")
        snapshotter.remove(name)
    return p
