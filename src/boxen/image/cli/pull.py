"""``boxen-image pull [--platform OS/ARCH] [--no-unpack] [-q|--json] [--explain] REF``."""

from __future__ import annotations

import threading

from boxen.common.flags import Arg, Flag
from boxen.image.cli import _common

ARGS = (Arg("reference", help="image reference, e.g. busybox or 127.0.0.1:5000/x/y:tag"),)
FLAGS = (
    Flag("platform", "str", metavar="OS/ARCH", help="os/arch[/variant] to choose from an index (default: this host)"),
    Flag("no-unpack", help="only fetch into the content store"),
    Flag("jobs", "int", 3, metavar="N", help="layers downloaded at once (default 3)"),
    *_common.OUTPUT_FLAGS,
)
EXCLUSIVE = _common.OUTPUT_EXCLUSIVE


class _OpenStores(threading.Thread):
    """Opens the data root's image store and snapshotter while the registry is answering.

    Opening them is system calls more than Python: two SQLite databases and, on a fresh data
    root, the snapshotter's probe of overlayfs (it builds, mounts and unmounts a small
    overlay). The pull spends that time waiting for the registry, so both run at once
    (measured: 12 ms less for busybox, median of 60). Not a daemon thread: a probe that has
    mounted always gets to unmount, whatever happens to the pull.
    """

    def __init__(self, root, unpack: bool) -> None:
        super().__init__(name="open-stores")
        self.root = root
        self.unpack = unpack
        self.images = None
        self.snapshotter = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self.images = _common.images(self.root)
            if self.unpack:
                self.snapshotter = _common.snapshotter(self.root)
        except Exception as exc:  # noqa: BLE001 (raised in the main thread by opened())
            self.error = exc

    def opened(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.images, self.snapshotter


def run(args) -> int:
    from boxen.common import jsonio
    from boxen.image.pull import fetch, finish
    from boxen.image.store import parse_platform

    root = _common.root(args)
    explain = _common.explainer(args)
    platform = parse_platform(args.platform) if args.platform else None
    progress = _common.progress(args)
    with root.gc_lock(), _common.client(args, root, explain) as client:
        content = _common.content(root)
        stores = _OpenStores(root, unpack=not args.no_unpack)
        stores.start()
        try:
            fetched = fetch(args.reference, content=content, client=client, platform=platform,
                            progress=progress, explain=explain, jobs=args.jobs)
            images, snapshotter = stores.opened()
        finally:
            stores.join()
        if snapshotter is None and not args.no_unpack and explain:
            explain("no snapshotter in this build: the image is fetched but not unpacked")
        result = finish(fetched, content=content, images=images, snapshotter=snapshotter,
                        progress=progress, explain=explain)
    if args.quiet:
        print(result.name)
    elif args.json:
        print(jsonio.dumps({"name": result.name, "digest": result.target.digest, "manifest": result.manifest.digest,
                            "config": result.config.digest, "chainID": result.chain_id}))
    return 0
