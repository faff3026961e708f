"""``boxen-image rm [--no-prune] IMAGE...``: remove names, then what only they referenced.

Like ``docker rmi``: the name goes, and content and snapshots no other image uses are
garbage-collected right away (``--no-prune`` leaves them for a later ``prune``).
"""

from __future__ import annotations

from boxen.common.flags import Arg, Flag
from boxen.image.cli import _common

ARGS = (Arg("images...", metavar="IMAGE"),)
FLAGS = (
    Flag("no-prune", help="keep unreferenced content for a later prune"),
    Flag("explain", help="say what is removed and why (on stderr)"),
)


def run(args) -> int:
    from boxen.image import gc
    from boxen.image.store import find_image

    root = _common.root(args)
    images = _common.images(root)
    content = _common.content(root)
    found = [find_image(images, name, content) for name in args.images]  # all or nothing: check every name first
    for image in found:
        images.delete(image.name)
        print(f"Untagged: {image.name}")
    if not args.no_prune:
        with root.gc_lock(exclusive=True):
            plan = gc.collect(_common.content(root), images, _common.snapshotter(root), explain=_common.explainer(args),
                              ingest_grace=gc.NO_WRITERS)
        for name in plan.snapshots:
            print(f"Deleted snapshot: {name}")
        for digest in plan.blobs:
            print(f"Deleted: {digest}")
    return 0
