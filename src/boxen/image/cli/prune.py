"""``boxen-image prune [--dry-run] [--explain]``: garbage-collect content and snapshots."""

from __future__ import annotations

from boxen.common.flags import Flag
from boxen.image.cli import _common

ARGS = ()
FLAGS = (
    Flag("dry-run", help="only say what would be removed"),
    Flag("explain", help="say what is removed and why (on stderr)"),
)


def run(args) -> int:
    from boxen.image import gc
    from boxen.image.progress import human_size

    root = _common.root(args)
    with root.gc_lock(exclusive=True):
        content, images, snapshotter = _common.content(root), _common.images(root), _common.snapshotter(root)
        if args.dry_run:
            plan = gc.plan(content, images, snapshotter)
        else:
            plan = gc.collect(content, images, snapshotter, explain=_common.explainer(args))
    verb = "Would remove" if args.dry_run else "Removed"
    for digest in plan.blobs:
        print(f"{verb} blob {digest}")
    for name in plan.snapshots:
        print(f"{verb} snapshot {name}")
    for ref in plan.ingests:
        print(f"{verb} abandoned ingest {ref}")
    print(f"Total reclaimed space: {human_size(plan.freed)}")
    return 0
