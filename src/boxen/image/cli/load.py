"""``boxen-image load -i PATH [--repository NAME] [-q]``: docker-save archive, OCI archive or layout dir.

Images named only by a bare tag in an OCI layout (``org.opencontainers.image.ref.name:
busybox``), or not at all, are stored under ``--repository`` (default ``localhost/loaded``).
"""

from __future__ import annotations

from boxen.common.flags import Flag
from boxen.image.cli import _common

ARGS = ()
FLAGS = (
    Flag("input,i", "str", metavar="PATH", required=True, help="archive file or OCI layout directory"),
    Flag("repository", "str", "localhost/loaded", metavar="NAME", help="repository for images without a full name"),
    Flag("quiet,q", help="print only the names loaded, one per line"),
    Flag("explain", help="say what is read and stored (on stderr)"),
)


def run(args) -> int:
    from boxen.image import archive

    root = _common.root(args)
    with root.gc_lock():
        names = archive.load(_common.content(root), _common.images(root), args.input,
                             repository=args.repository, explain=_common.explainer(args))
    for name in names:
        print(name if args.quiet else f"Loaded image: {name}")
    return 0
