"""``boxen-image save -o PATH [--format docker|oci|oci-dir] IMAGE...``.

``docker`` (the default) writes a docker-save archive that is also an OCI layout (as docker
25 does): ``podman load``, ``docker load`` and ``skopeo copy oci-archive:`` read it.
``oci`` writes a tar of an OCI image layout with the layers as stored (compressed);
``oci-dir`` writes (or adds to) an OCI image layout directory.
"""

from __future__ import annotations

from boxen.common.flags import Arg, Flag
from boxen.image.cli import _common

ARGS = (Arg("images...", metavar="IMAGE"),)
FLAGS = (
    Flag("output,o", "str", metavar="PATH", required=True, help="archive file, or directory for --format oci-dir"),
    Flag("format", "str", "docker", choices=("docker", "oci", "oci-dir"), help="archive format (default docker)"),
    Flag("platform", "str", metavar="OS/ARCH", help="os/arch[/variant] to choose from an index"),
    Flag("explain", help="say what is written (on stderr)"),
)


def run(args) -> int:
    import os
    import tempfile

    from boxen.image import archive, layout
    from boxen.image.store import find_image, parse_platform

    root = _common.root(args)
    content, images = _common.content(root), _common.images(root)
    chosen = [find_image(images, name, content) for name in args.images]
    platform = parse_platform(args.platform) if args.platform else None
    explain = _common.explainer(args)
    if args.format == "docker":
        archive.save(content, chosen, args.output, platform=platform, explain=explain)
    elif args.format == "oci-dir":
        layout.export(content, chosen, args.output, platform=platform, explain=explain)
    else:
        directory = os.path.dirname(os.path.abspath(args.output))
        with tempfile.TemporaryDirectory(prefix=".boxen-save-", dir=directory) as tmp:
            layout.export(content, chosen, tmp, platform=platform, explain=explain)
            with open(args.output + ".tmp", "wb") as out:
                layout.write_tar(tmp, out)
            os.replace(args.output + ".tmp", args.output)
    return 0
