"""Image layers: tar archives of file system changes, applied one on top of another.

An image's root file system is not shipped whole: it is a stack of **layers**, each a tar
archive (compressed with gzip or zstd, or not) of what changed since the layer below:
files added or modified, and files deleted, written as **whiteouts** (``.wh.name``) because
tar has no way to say "this is gone". Unpacking applies the layers bottom first; a layer
shared by two images is applied once and reused (see :mod:`boxen.image.unpack`).

Every layer has two names. The manifest names the blob as shipped, by the digest of its
*compressed* bytes; the image config names the *uncompressed* tar by its **diff ID**.
:func:`apply_layer` checks both while it reads, in one pass: a background thread reads,
hashes and decompresses the blob (:mod:`.stream`), and the calling thread parses the tar
(:mod:`.tarstream`) and creates the files (:mod:`.apply`), every path resolved inside the
target (:mod:`.paths`).

The target is either a complete directory tree (the **native** way: whiteouts delete) or an
overlayfs **upper directory** stacked on the lower layers' directories (whiteouts become the
character devices and ``trusted.overlay.opaque`` attributes overlayfs understands). A layer
that fails part-way leaves a half-applied target: the caller (a snapshot, a bundle) removes
it, never commits it.

The modules, in reading order: :mod:`.stream`, :mod:`.tarstream`, :mod:`.cursor`,
:mod:`.paths`, :mod:`.apply`, :mod:`.tree`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

from boxen.common.record import Record
from boxen.image.layers.apply import WHITEOUT_OPAQUE, WHITEOUT_PREFIX, Applier
from boxen.image.layers.stream import LayerStream, sniff
from boxen.image.layers.tarstream import ByteSource, TarReader
from boxen.image.layers.tree import Usage, copy_tree, remove_tree, usage

__all__ = [
    "WHITEOUT_OPAQUE",
    "WHITEOUT_PREFIX",
    "ApplyResult",
    "Usage",
    "apply_layer",
    "copy_tree",
    "remove_tree",
    "sniff",
    "usage",
]


class ApplyResult(Record):
    """What applying a layer found: its digests, its compression, what it did and skipped."""

    diff_id: str
    digest: str
    size: int
    compression: str
    entries: int
    whiteouts: int
    opaques: int
    skipped: tuple[str, ...] = ()


def apply_layer(blob: BinaryIO, target: str, *, digest: str | None = None, size: int | None = None,
                overlay: bool = False, lowers: tuple[str, ...] = (), rootless: bool | None = None,
                progress: Callable[[int], None] | None = None,
                explain: Callable[[str], None] | None = None) -> ApplyResult:
    """Apply the layer read from ``blob`` onto the directory ``target``.

    ``digest`` and ``size`` (from the layer's descriptor) are checked against the blob's bytes.
    ``overlay=True`` treats ``target`` as an overlayfs upper directory over ``lowers`` (top
    first). ``rootless`` defaults to "not root". ``progress`` is called with the number of
    compressed bytes read so far; ``explain`` with lines describing whiteouts and skips.

    Raises ``InvalidArgument`` (``field`` names the entry) for a malformed or hostile layer and
    a ``KernelError`` when the file system refuses; either way the target is left half-applied.
    """
    if rootless is None:
        rootless = os.geteuid() != 0
    stream = LayerStream(blob, digest=digest, size=size, progress=progress)
    source = ByteSource(stream.next_chunk)
    try:
        applier = Applier(target, overlay=overlay, lowers=tuple(lowers), rootless=rootless, explain=explain)
        applier.apply(TarReader(source))
        source.drain()  # the diff ID and the digest cover the archive's trailing blocks too
    finally:
        stream.close()
    for line in applier.skipped:
        if explain is not None:
            explain(f"  skipped {line}")
    return ApplyResult(
        diff_id=stream.diff_id, digest=stream.digest, size=stream.size, compression=stream.compression,
        entries=applier.entries, whiteouts=applier.whiteouts, opaques=applier.opaques,
        skipped=tuple(applier.skipped),
    )
