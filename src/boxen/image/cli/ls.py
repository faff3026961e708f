"""``boxen-image ls [-q] [--digests] [--format table|json]``: the images in the store."""

from __future__ import annotations

import time

from boxen.common.flags import Flag
from boxen.image.cli import _common

ARGS = ()
FLAGS = (
    Flag("quiet,q", help="names only"),
    Flag("digests", help="show full digests"),
    Flag("format", "str", "table", choices=("table", "json"), help="output format"),
)


def _age(t: float) -> str:
    seconds = max(0, time.time() - t)
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def run(args) -> int:
    from boxen.common import jsonio
    from boxen.common.errors import NotFound
    from boxen.image import reference
    from boxen.image.progress import human_size
    from boxen.image.store import resolve

    root = _common.root(args)
    content = _common.content(root)
    rows = []
    for image in _common.images(root).list():
        try:
            _, manifest, _ = resolve(content, image.target)
            size = sum(d.size for d in (manifest.config, *manifest.layers))
        except NotFound:
            size = None
        rows.append((image, size))
    if args.quiet:
        for image, _ in rows:
            print(image.name)
    elif args.format == "json":
        for image, size in rows:
            print(jsonio.dumps({"name": image.name, "mediaType": image.target.mediaType,
                                "digest": image.target.digest, "size": size, "created": image.created}))
    else:
        table = [("NAME", "DIGEST", "SIZE", "CREATED")]
        for image, size in rows:
            name = reference.parse(image.name).familiar() if "@" not in image.name else image.name
            digest = image.target.digest if args.digests else image.target.digest[7:19]
            table.append((name, digest, human_size(size) if size is not None else "-", _age(image.created)))
        widths = [max(len(r[i]) for r in table) for i in range(3)]
        for r in table:
            print("   ".join(c.ljust(w) for c, w in zip(r, widths)) + "   " + r[3])
    return 0
