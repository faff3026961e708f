"""``boxen-image scan``: an image's packages as an SBOM, and the advisories that affect them.

::

    boxen-image scan REF | --rootfs DIR [--advisories DIR] [--format table|json|cyclonedx]
                     [--output FILE] [--fail-on low|medium|high|critical] [--platform OS/ARCH]

A REF is unpacked into a temporary bundle (removed afterwards); ``--rootfs`` scans a
directory as it is. Without ``--advisories`` the table lists the packages; with it, the
findings. Exit status: 0 when nothing at or above ``--fail-on`` was found (without it, when
nothing was found at all), 1 when something was, 2 when the scan could not run.
"""

from __future__ import annotations

import os
import sys

from boxen.common.flags import Arg, Flag
from boxen.image.scan.report import FAIL_ON

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

ARGS = (Arg("ref?", metavar="REF", help="image name in the data root (or give --rootfs)"),)
FLAGS = (
    Flag("rootfs", "str", metavar="DIR", help="scan this root filesystem directory instead of an image"),
    Flag("advisories", "str", metavar="DIR", help="directory of OSV advisories, one JSON file each"),
    Flag("format", "str", "table", choices=("table", "json", "cyclonedx"), help="output format"),
    Flag("output,o", "str", metavar="FILE", help="write the output to FILE instead of stdout"),
    Flag("fail-on", "str", metavar="SEVERITY", choices=FAIL_ON,
         help=f"exit 1 only for findings at or above SEVERITY ({', '.join(FAIL_ON)}); default: any finding"),
    Flag("platform", "str", metavar="OS/ARCH", help="os/arch[/variant] to choose from a multi-platform image"),
)
DESCRIPTION = ("List the packages in an image (dpkg, apk, Python) and match them against OSV advisories. "
               "Exit status: 0 nothing at or above --fail-on, 1 findings, 2 the scan could not run.")


def _remove_tree(path: str) -> None:
    """Remove the temporary bundle, even where the image made directories read-only."""
    import shutil
    import stat

    def make_writable(func, failed, _exc_info):
        os.chmod(os.path.dirname(failed), stat.S_IRWXU)
        func(failed)

    shutil.rmtree(path, onerror=make_writable)


def _unpack_image(args, workdir: str):
    """Unpack image ``args.ref`` under ``workdir``: (rootfs directory, BOM metadata)."""
    from boxen.common.errors import Unimplemented
    from boxen.image.cli import _common
    from boxen.image.scan.cyclonedx import CONTAINER, BomMetadata
    from boxen.image.store import find_image, parse_platform, resolve

    root = _common.root(args)
    content = _common.content(root)
    images = _common.images(root)
    try:
        image = find_image(images, args.ref, content)
    finally:
        images.close()
    manifest_desc, manifest, config = resolve(content, image.target, parse_platform(args.platform) if args.platform else None)
    try:
        from boxen.image.unpack import unpack_bundle
    except ImportError:
        raise Unimplemented(
            "scanning an image by name needs boxen.image.unpack, which this build lacks; "
            "unpack the image yourself and use --rootfs DIR", field="ref"
        ) from None
    bundle = os.path.join(workdir, "bundle")
    unpack_bundle(content, manifest, config, bundle)
    return os.path.join(bundle, "rootfs"), BomMetadata(image.name, manifest_desc.digest, CONTAINER)


def _render(args, components, findings, metadata, matched: bool) -> str:
    from boxen.common import jsonio
    from boxen.image.scan import report, to_cyclonedx

    if args.format == "cyclonedx":
        return jsonio.dumps(to_cyclonedx(components, metadata, findings), indent=2) + "\n"
    if args.format == "json":
        return jsonio.dumps(report.to_json(findings, components, metadata), indent=2) + "\n"
    width = os.get_terminal_size().columns if not args.output and sys.stdout.isatty() else 1 << 20
    if matched:
        return report.findings_table(findings, components, width)
    return report.inventory_table(components, width)


def _write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader sees the old file or the whole new one."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _scan(args) -> int:
    import tempfile

    from boxen.common.errors import InvalidArgument
    from boxen.image.scan import inventory, load_advisories, match, report
    from boxen.image.scan.cyclonedx import FILE, BomMetadata

    if args.ref and args.rootfs:
        raise InvalidArgument("scans a directory instead of an image: give REF or --rootfs, not both", field="--rootfs")
    if not args.ref and not args.rootfs:
        raise InvalidArgument("give an image name, or --rootfs DIR", field="REF")
    if args.fail_on and not args.advisories:
        raise InvalidArgument("needs --advisories: without advisories there is nothing to fail on", field="--fail-on")
    if args.platform and not args.ref:
        raise InvalidArgument("chooses among an image's platforms; a --rootfs has one", field="--platform")
    index = load_advisories(args.advisories) if args.advisories else None
    if args.rootfs:
        metadata = BomMetadata(os.path.abspath(args.rootfs), type=FILE)
        components = inventory(args.rootfs)
    else:
        workdir = tempfile.mkdtemp(prefix="boxen-scan-")
        try:
            rootfs, metadata = _unpack_image(args, workdir)
            components = inventory(rootfs)
        finally:
            _remove_tree(workdir)
    findings = match(components, index) if index is not None else []
    text = _render(args, components, findings, metadata, matched=index is not None)
    if args.output:
        _write(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_FINDINGS if report.fails(findings, args.fail_on) else EXIT_CLEAN


def run(args) -> int:
    from boxen.common.errors import BoxenError

    try:
        return _scan(args)
    except BoxenError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"boxen-image: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
