"""``boxen-image pull [--platform OS/ARCH] [--no-unpack] [-q|--json] [--explain] REF``."""

from __future__ import annotations

from boxen.image.cli import _common


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("pull", help="pull an image from a registry (and unpack it)")
    p.add_argument("reference", help="image reference, e.g. busybox or 127.0.0.1:5000/x/y:tag")
    p.add_argument("--platform", help="os/arch[/variant] to choose from an index (default: this host)")
    p.add_argument("--no-unpack", action="store_true", help="only fetch into the content store")
    p.add_argument("--jobs", type=int, default=3, help="layers downloaded at once (default 3)")
    _common.add_output_flags(p)


def run(args) -> int:
    from boxen.common import jsonio
    from boxen.image.pull import pull
    from boxen.image.store import parse_platform

    root = _common.root(args)
    explain = _common.explainer(args)
    platform = parse_platform(args.platform) if args.platform else None
    snapshotter = None if args.no_unpack else _common.snapshotter(root)
    if snapshotter is None and not args.no_unpack and explain:
        explain("no snapshotter in this build: the image is fetched but not unpacked")
    progress = _common.progress(args)
    with root.gc_lock(), _common.client(args, root, explain) as client:
        images = _common.images(root)
        result = pull(args.reference, content=_common.content(root), images=images, client=client,
                      platform=platform, progress=progress, explain=explain, snapshotter=snapshotter,
                      jobs=args.jobs)
    if args.quiet:
        print(result.name)
    elif args.json:
        print(jsonio.dumps({"name": result.name, "digest": result.target.digest, "manifest": result.manifest.digest,
                            "config": result.config.digest, "chainID": result.chain_id}))
    return 0
