"""``boxen-image push [--chunk-size N] [-q|--json] [--explain] IMAGE [DESTINATION]``."""

from __future__ import annotations

from boxen.common.flags import Arg, Flag
from boxen.image.cli import _common

ARGS = (
    Arg("image", help="local image name"),
    Arg("destination?", help="reference to push to (default: the image's name)"),
)
FLAGS = (
    Flag("platform", "str", metavar="OS/ARCH", help="os/arch[/variant] when only part of an index is stored"),
    Flag("chunk-size", "int", 0, metavar="BYTES",
         help="upload blobs in PATCH requests of this many bytes (default: one request per blob)"),
    Flag("jobs", "int", 3, metavar="N", help="blobs uploaded at once (default 3)"),
    *_common.OUTPUT_FLAGS,
)
EXCLUSIVE = _common.OUTPUT_EXCLUSIVE


def run(args) -> int:
    from boxen.common import jsonio
    from boxen.common.errors import InvalidArgument
    from boxen.image.push import push
    from boxen.image.store import parse_platform

    if args.chunk_size < 0:
        raise InvalidArgument("must be 0 or more", field="--chunk-size")
    root = _common.root(args)
    explain = _common.explainer(args)
    platform = parse_platform(args.platform) if args.platform else None
    with root.gc_lock(), _common.client(args, root, explain) as client:
        result = push(args.image, args.destination, content=_common.content(root), images=_common.images(root),
                      client=client, platform=platform, progress=_common.progress(args), explain=explain,
                      chunk_size=args.chunk_size, jobs=args.jobs)
    if args.quiet:
        print(result.digest)
    elif args.json:
        print(jsonio.dumps(result.as_dict()))
    return 0
