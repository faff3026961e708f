"""``boxen-image tag SOURCE TARGET``: one more name for the same image (no content is copied)."""

from __future__ import annotations

from boxen.common.flags import Arg
from boxen.image.cli import _common

ARGS = (Arg("source"), Arg("target"))
FLAGS = ()


def run(args) -> int:
    from boxen.image import reference
    from boxen.image.store import find_image, image_name

    root = _common.root(args)
    images = _common.images(root)
    image = find_image(images, args.source, _common.content(root))
    target = reference.parse(args.target, field="target")
    images.put(image_name(target), image.target, image.labels)
    return 0
