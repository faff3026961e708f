"""What the verbs share: opening the data root's stores, the registry client, output modes."""

from __future__ import annotations

import os
import sys

from boxen.common.flags import Flag
from boxen.image.root import Root, resolve

#: what the verbs that transfer images print: progress (default), nothing but the result, or JSON
OUTPUT_FLAGS = (
    Flag("quiet,q", help="print only the result"),
    Flag("json", help="progress as JSON lines on stdout"),
    Flag("explain", help="say each request, each digest verified and each layer applied (on stderr)"),
)
OUTPUT_EXCLUSIVE = (("quiet", "json"),)


def root(args) -> Root:
    return resolve(args.root)


def content(r: Root):
    from boxen.image.content.local import LocalContentStore

    return LocalContentStore(r.content)


def images(r: Root):
    from boxen.image.store import ImageStore

    os.makedirs(r.path, exist_ok=True)
    return ImageStore(r.images_db)


def snapshotter(r: Root):
    """The data root's snapshotter, or ``None`` where this build has none."""
    try:
        from boxen.image.snapshots import open_snapshotter
    except ImportError:
        return None
    return open_snapshotter(r.snapshots)


def explainer(args):
    if not getattr(args, "explain", False):
        return None

    def say(text: str) -> None:
        print(f"explain: {text}", file=sys.stderr, flush=True)

    return say


def client(args, r: Root, explain=None):
    from boxen.image.registry import config, credentials
    from boxen.image.registry.client import RegistryClient

    certs_dirs = (r.certs_d, *config.SYSTEM_CERTS_DIRS)
    cfg = config.load(args.registry_config or r.registries, certs_dirs=certs_dirs)
    return RegistryClient(cfg, credentials=credentials.lookup_once(), explain=explain)


def progress(args):
    from boxen.image import progress as p

    if args.quiet:
        return p.make("quiet")
    if args.json:
        return p.make("json", sys.stdout)
    return p.make("auto", sys.stderr)
