"""``boxen-image load -i PATH [--repository NAME]``: docker-save archive, OCI archive or layout dir.

Images named only by a bare tag in an OCI layout (``org.opencontainers.image.ref.name:
busybox``), or not at all, are stored under ``--repository`` (default ``localhost/loaded``).
"""

from __future__ import annotations

from boxen.image.cli import _common


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("load", help="read images from a docker-save archive or an OCI layout")
    p.add_argument("-i", "--input", required=True, help="archive file or OCI layout directory")
    p.add_argument("--repository", default="localhost/loaded", help="repository for images without a full name")
    p.add_argument("--explain", action="store_true")


def run(args) -> int:
    from boxen.image import archive

    root = _common.root(args)
    with root.gc_lock():
        names = archive.load(_common.content(root), _common.images(root), args.input,
                             repository=args.repository, explain=_common.explainer(args))
    for name in names:
        print(f"Loaded image: {name}")
    return 0
