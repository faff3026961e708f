"""``boxen-image inspect [--raw manifest|config|index] IMAGE``: what an image is made of, as JSON."""

from __future__ import annotations

from boxen.common.flags import Arg, Flag
from boxen.image.cli import _common

ARGS = (Arg("image"),)
FLAGS = (
    Flag("raw", "str", choices=("manifest", "config", "index"), help="print that document's bytes as stored"),
    Flag("platform", "str", metavar="OS/ARCH", help="os/arch[/variant] to choose from an index"),
)


def run(args) -> int:
    import sys

    from boxen.common import jsonio
    from boxen.common.errors import NotFound
    from boxen.common.schema import to_json
    from boxen.image import content as contents
    from boxen.image.store import find_image, parse_platform, resolve
    from boxen.oci import image as oci

    root = _common.root(args)
    content = _common.content(root)
    images = _common.images(root)
    image = find_image(images, args.image, content)
    platform = parse_platform(args.platform) if args.platform else None
    manifest_desc, manifest, config = resolve(content, image.target, platform)
    if args.raw:
        if args.raw == "index" and image.target.mediaType not in oci.INDEX_TYPES:
            raise NotFound(f"{image.name} is a single manifest, not an index", field="--raw")
        digest = {"manifest": manifest_desc.digest, "config": manifest.config.digest,
                  "index": image.target.digest}[args.raw]
        sys.stdout.buffer.write(contents.read(content, digest))
        return 0
    names = [i.name for i in images.by_digest(image.target.digest)]
    out = {
        "Id": manifest.config.digest,
        "Names": names,
        "Target": to_json(image.target),
        "Manifest": to_json(manifest_desc),
        "Layers": [to_json(d) for d in manifest.layers],
        "Config": to_json(config),
        "Size": sum(d.size for d in (manifest.config, *manifest.layers)),
        "Created": image.created,
    }
    print(jsonio.dumps(out, indent=2))
    return 0
