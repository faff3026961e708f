"""``boxen-image prune [--build-cache] [--dry-run] [--explain]``: garbage-collect content and snapshots.

First, what dead processes left is removed: a killed build's containers, mounts, temporary
directories and snapshots (:func:`boxen.image.build.cleanup.recover`), an unpack's active
snapshot, interrupted downloads (see :mod:`boxen.image.gc`).

``--build-cache`` also empties the directories of builds' ``RUN --mount=type=cache`` mounts
(``ROOT/build/cache-mounts``), as ``docker builder prune`` does.
"""

from __future__ import annotations

import os

from boxen.common.flags import Flag
from boxen.image.cli import _common

ARGS = ()
FLAGS = (
    Flag("build-cache", help="also remove the cache mounts of builds (RUN --mount=type=cache)"),
    Flag("dry-run", help="only say what would be removed"),
    Flag("explain", help="say what is removed and why (on stderr)"),
)


def run(args) -> int:
    from boxen.image import gc
    from boxen.image.progress import human_size

    root = _common.root(args)
    with root.gc_lock(exclusive=True):
        content, images, snapshotter = _common.content(root), _common.images(root), _common.snapshotter(root)
        recovered = [] if args.dry_run else _recover_builds(root.path, snapshotter, _common.explainer(args))
        if args.dry_run:
            plan = gc.plan(content, images, snapshotter, ingest_grace=gc.NO_WRITERS)
        else:
            plan = gc.collect(content, images, snapshotter, explain=_common.explainer(args),
                              ingest_grace=gc.NO_WRITERS)
        mounts = _cache_mounts(root.path) if args.build_cache else []
        if not args.dry_run:
            from boxen.image.layers import remove_tree

            for path in mounts:
                remove_tree(path)
    verb = "Would remove" if args.dry_run else "Removed"
    for what in recovered:
        print(f"Removed {what} (left by a build that died)")
    for name in plan.reaped:
        print(f"Removed {name} (left by a process that is gone)")
    for path in mounts:
        print(f"{verb} build cache mount {os.path.basename(path)}")
    for digest in plan.blobs:
        print(f"{verb} blob {digest}")
    for name in plan.snapshots:
        print(f"{verb} snapshot {name}")
    for ref in plan.ingests:
        print(f"{verb} abandoned ingest {ref}")
    print(f"Total reclaimed space: {human_size(plan.freed)}")
    return 0


def _recover_builds(root: str, snapshotter, explain) -> list[str]:
    """What killed builds left under ``root/build`` (no build runs: we hold the GC lock exclusively)."""
    directory = os.path.join(root, "build")
    if not os.path.isdir(directory):
        return []
    from boxen.image.build.cleanup import recover

    def runtime():
        from boxen.runtime import Runtime

        return Runtime(root=os.path.join(directory, "runtime"))

    return recover(directory, snapshotter, runtime, explain)


def _cache_mounts(root: str) -> list[str]:
    directory = os.path.join(root, "build", "cache-mounts")
    try:
        return sorted(os.path.join(directory, name) for name in os.listdir(directory))
    except FileNotFoundError:
        return []
