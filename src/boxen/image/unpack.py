"""Unpacking an image: its layers applied in order onto snapshots named by chain ID.

The image config lists the **diff IDs** of the layers, bottom first. A layer's meaning
depends on everything beneath it (a whiteout deletes a file some lower layer made), so a
snapshot holding layers 0..n is named by the **chain ID** of that stack::

    ChainID(L0)    = DiffID(L0)
    ChainID(L0..n) = sha256( ChainID(L0..n-1) + " " + DiffID(Ln) )

Two images built on the same base share the chain IDs of their common bottom layers, so
:func:`unpack` finds those snapshots committed already and applies only the layers above
them. For each missing layer it prepares an active snapshot on the previous chain ID,
applies the layer blob from the content store into it (checking the blob's digest, its size
and the diff ID as it streams), and commits it under its chain ID. A layer that fails to
apply or verify is removed, never committed; if another process commits the same chain ID
first, this one's copy is dropped. The active snapshot is labelled as this process's work
(:data:`~boxen.image.snapshots.WORK_LABEL`), so if the process is killed midway, the next
unpack or ``prune`` finds it dead and removes it.

A snapshot's mounts say where to write: a bind mount is a complete tree (whiteouts delete),
an overlay mount's ``upperdir`` is written in overlayfs's format over its ``lowerdir``
(see :mod:`boxen.image.layers`). Nothing is mounted.

:func:`unpack_bundle` is the snapshot-free path of ``boxen-image unpack``, like ``umoci
unpack``: every layer applied into ``BUNDLE/rootfs`` and ``BUNDLE/config.json`` written from
the image config (:mod:`boxen.image.bundle`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence

from boxen.common import jsonio
from boxen.common.errors import (
    AlreadyExists,
    BoxenError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unimplemented,
    kernel_error,
)
from boxen.common.record import Record
from boxen.image.layers import apply_layer, remove_tree
from boxen.image.snapshots import COMMITTED, WORK_LABEL, Mount
from boxen.oci.image import LAYER_TYPES, Descriptor, ImageConfig, Manifest

Explain = Callable[[str], None]

class LayerProgress(Record):
    """Where unpacking one layer is: ``status`` is ``exists``, ``applying`` or ``applied``;
    ``done`` of ``total`` compressed bytes read."""

    index: int
    digest: str
    chain_id: str
    status: str
    done: int
    total: int


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """The chain ID of each prefix of ``diff_ids`` (see the module docstring)."""
    chains: list[str] = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
        else:
            chains.append("sha256:" + hashlib.sha256(f"{chains[-1]} {diff_id}".encode()).hexdigest())
    return chains


def _layers(manifest: Manifest, config: ImageConfig) -> list[tuple[Descriptor, str]]:
    diff_ids = config.rootfs.diff_ids
    if len(manifest.layers) != len(diff_ids):
        raise InvalidArgument(
            f"the manifest has {len(manifest.layers)} layers but the config lists {len(diff_ids)} diff IDs",
            field="rootfs.diff_ids",
        )
    if not diff_ids:
        raise InvalidArgument("the image has no layers to unpack", field="layers")
    for i, layer in enumerate(manifest.layers):
        if layer.mediaType not in LAYER_TYPES:
            raise Unimplemented(f"{layer.mediaType!r} is not a layer media type boxen can apply",
                                field=f"layers[{i}].mediaType")
    return list(zip(manifest.layers, diff_ids))


def apply_target(mounts: list[Mount]) -> tuple[str, bool, tuple[str, ...]]:
    """Where to write a layer for these mounts: ``(directory, overlay, lowers)``."""
    if len(mounts) == 1:
        mount = mounts[0]
        if mount.type == "bind" and "ro" not in mount.options:
            return mount.source, False, ()
        if mount.type == "overlay":
            options = dict(o.partition("=")[::2] for o in mount.options)
            if options.get("upperdir"):
                return options["upperdir"], True, tuple(options.get("lowerdir", "").split(":"))
    raise Unimplemented(f"cannot apply a layer to {mounts!r}: expected one writable bind or overlay mount")


def _verified(result, diff_id: str, index: int) -> None:
    if result.diff_id != diff_id:
        raise InvalidArgument(
            f"layer {index} uncompresses to {result.diff_id}, but the image config says {diff_id}",
            field=f"rootfs.diff_ids[{index}]",
        )


def _describe(explain: Explain | None, result) -> None:
    if explain is None:
        return
    explain(f"  verified: blob {result.digest} ({result.compression}, {result.size} bytes) "
            f"uncompresses to diff ID {result.diff_id}")
    explain(f"  applied {result.entries} entries, {result.whiteouts} whiteouts, {result.opaques} opaque directories")


def unpack(content, snapshotter, manifest: Manifest, config: ImageConfig, *,
           progress: Callable[[LayerProgress], None] | None = None, explain: Explain | None = None,
           rootless: bool | None = None) -> str:
    """Make sure every layer of the image is a committed snapshot; returns the top chain ID."""
    layers = _layers(manifest, config)
    chains = chain_ids([diff_id for _, diff_id in layers])
    for name in snapshotter.reap():
        if explain is not None:
            explain(f"removed {name!r}, left by an unpack or removal that did not finish")
    present = 0
    for i in reversed(range(len(chains))):
        if _committed(snapshotter, chains[i]):
            present = i + 1
            break
    if explain is not None:
        explain(f"unpack: {len(layers)} layers onto the {snapshotter.kind} snapshotter; "
                f"{present} already present")
    for i, ((layer, diff_id), chain) in enumerate(zip(layers, chains)):
        if explain is not None:
            explain(f"layer {i + 1}/{len(layers)} {layer.digest}: diff ID {diff_id}, chain ID {chain}")
        if i < present:
            if explain is not None:
                explain("  already unpacked: snapshot exists")
            if progress is not None:
                progress(LayerProgress(i, layer.digest, chain, "exists", layer.size, layer.size))
            continue
        parent = chains[i - 1] if i else None
        _apply_snapshot(content, snapshotter, i, layer, diff_id, chain, parent,
                        progress=progress, explain=explain, rootless=rootless)
    return chains[-1]


def _reporter(progress, index: int, layer: Descriptor, chain: str) -> Callable[[int], None] | None:
    """``apply_layer``'s byte count as :class:`LayerProgress` events, if anyone listens."""
    if progress is None:
        return None
    return lambda done: progress(LayerProgress(index, layer.digest, chain, "applying", done, layer.size))


def _committed(snapshotter, name: str) -> bool:
    try:
        return snapshotter.stat(name).kind == COMMITTED
    except NotFound:
        return False


def _apply_snapshot(content, snapshotter, index: int, layer: Descriptor, diff_id: str, chain: str,
                    parent: str | None, *, progress, explain, rootless) -> None:
    key = f"extract-{os.getpid()}-{os.urandom(4).hex()} {chain}"
    mounts = snapshotter.prepare(key, parent, {WORK_LABEL: "unpack"})
    try:
        target, overlay, lowers = apply_target(mounts)
        if explain is not None:
            where = f"overlay upper directory {target} over {len(lowers)} lower" if overlay else f"directory {target}"
            explain(f"  prepared snapshot {key!r} on {parent or 'nothing'}: writing into {where}")
        with content.reader(layer.digest) as blob:
            result = apply_layer(blob, target, digest=layer.digest, size=layer.size, overlay=overlay, lowers=lowers,
                                 rootless=rootless, progress=_reporter(progress, index, layer, chain),
                                 explain=explain)
        _verified(result, diff_id, index)
        _describe(explain, result)
        try:
            snapshotter.commit(chain, key)
        except AlreadyExists:
            snapshotter.remove(key)
            if explain is not None:
                explain(f"  another unpack committed {chain} first; dropped this copy")
        else:
            if explain is not None:
                explain(f"  committed snapshot {chain}")
    except BaseException as exc:
        try:
            snapshotter.remove(key)
        except NotFound:
            pass
        except BoxenError:  # (a full disk, say): the snapshot is marked as work, so reap removes it later
            pass
        if isinstance(exc, OSError):
            raise kernel_error(exc.errno or 0, "unpack", exc.filename,
                               f"layer {index + 1} {layer.digest}; nothing of it was kept") from exc
        raise
    if progress is not None:
        progress(LayerProgress(index, layer.digest, chain, "applied", layer.size, layer.size))


def unpack_bundle(content, manifest: Manifest, config: ImageConfig, bundle_dir: str, *,
                  explain: Explain | None = None, progress: Callable[[LayerProgress], None] | None = None,
                  rootless: bool | None = None) -> None:
    """Write an OCI bundle: every layer applied into ``bundle_dir/rootfs``, and ``config.json``.

    ``bundle_dir`` must be absent or empty; on any error, what this call created is removed.
    """
    from boxen.image.bundle import runtime_config

    layers = _layers(manifest, config)
    bundle_dir = os.path.abspath(bundle_dir)
    created = not os.path.exists(bundle_dir)
    if created:
        os.makedirs(bundle_dir, 0o755)
    elif not os.path.isdir(bundle_dir) or os.listdir(bundle_dir):
        raise FailedPrecondition("the bundle directory exists and is not empty", field=bundle_dir)
    rootfs = os.path.join(bundle_dir, "rootfs")
    if rootless is None:
        rootless = os.geteuid() != 0
    try:
        os.mkdir(rootfs, 0o755)
        for i, (layer, diff_id) in enumerate(layers):
            if explain is not None:
                explain(f"layer {i + 1}/{len(layers)} {layer.digest}: diff ID {diff_id}, into {rootfs}")
            with content.reader(layer.digest) as blob:
                result = apply_layer(blob, rootfs, digest=layer.digest, size=layer.size, rootless=rootless,
                                     progress=_reporter(progress, i, layer, ""), explain=explain)
            _verified(result, diff_id, i)
            _describe(explain, result)
        spec = runtime_config(config, rootfs, rootless=rootless)
        with open(os.path.join(bundle_dir, "config.json"), "x") as f:
            f.write(jsonio.dumps(spec, indent=2) + "\n")
        if explain is not None:
            explain(f"wrote {os.path.join(bundle_dir, 'config.json')}: args {spec['process']['args']}, "
                    f"user {spec['process']['user']}, cwd {spec['process']['cwd']}")
    except BaseException:
        remove_tree(bundle_dir if created else rootfs)
        if not created:
            try:
                os.unlink(os.path.join(bundle_dir, "config.json"))
            except FileNotFoundError:
                pass
        raise
