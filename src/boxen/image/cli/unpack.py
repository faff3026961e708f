"""``boxen-image unpack [--platform OS/ARCH] [--rootless] [-q] [--explain] REF BUNDLE_DIR``.

Writes an OCI runtime bundle, as ``umoci unpack`` does: ``BUNDLE_DIR/rootfs`` with every layer
of the stored image REF applied, and ``BUNDLE_DIR/config.json`` made from the image config on
top of the ``runc spec`` template; ``boxen-runtime run -b BUNDLE_DIR ID`` runs it. BUNDLE_DIR
must not exist or be empty. ``--rootless`` (the default when not root) keeps files owned by
the caller, skips device nodes and writes the rootless template.
"""

from __future__ import annotations

import os

from boxen.common.flags import Arg, Flag
from boxen.image.cli import _common

ARGS = (
    Arg("reference", help="a stored image: name, name:tag, name@digest or a digest"),
    Arg("bundle", metavar="BUNDLE_DIR", help="directory to create (absent or empty)"),
)
FLAGS = (
    Flag("platform", "str", metavar="OS/ARCH", help="os/arch[/variant] to choose from a multi-platform image"),
    Flag("rootless", default=os.geteuid() != 0, help="unpack as an unprivileged user (default when not root)"),
    Flag("quiet,q", help="print nothing on success"),
    Flag("explain", help="say each layer applied, each digest verified and each whiteout (on stderr)"),
)


def run(args) -> int:
    from boxen.image.store import find_image, parse_platform, resolve
    from boxen.image.unpack import unpack_bundle

    root = _common.root(args)
    explain = _common.explainer(args)
    content = _common.content(root)
    images = _common.images(root)
    try:
        image = find_image(images, args.reference, content)
    finally:
        images.close()
    platform = parse_platform(args.platform) if args.platform else None
    manifest_desc, manifest, config = resolve(content, image.target, platform)
    if explain is not None:
        explain(f"image {image.name} -> manifest {manifest_desc.digest}, config {manifest.config.digest}")
    unpack_bundle(content, manifest, config, args.bundle, explain=explain, rootless=args.rootless)
    if not args.quiet:
        print(f"unpacked {image.name} into {os.path.abspath(args.bundle)}")
    return 0
