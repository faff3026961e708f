"""boxen-image: a daemonless image tool, like skopeo, umoci and ``ctr images``.

Every verb is one module with ``add_parser(subparsers)`` and ``run(args) -> int``; the
table below maps verbs to modules, and only the module of the verb being run is imported
(so ``boxen-image ls`` does not load the registry client). Global options come before the
verb::

    boxen-image [--root DIR] [--registry-config FILE] [--debug] VERB ...

The data root is ``--root``, else ``$BOXEN_ROOT``, else ``/var/lib/boxen``. Errors are
printed as one line (``boxen-image: error: ...``) with exit status 1; ``--debug`` shows the
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: verb -> (module, one-line help)
VERBS = {
    "pull": ("boxen.image.cli.pull", "pull an image from a registry (and unpack it)"),
    "push": ("boxen.image.cli.push", "push an image to a registry"),
    "ls": ("boxen.image.cli.ls", "list images"),
    "inspect": ("boxen.image.cli.inspect", "show an image's manifest, config and names"),
    "rm": ("boxen.image.cli.rm", "remove image names (and what only they used)"),
    "tag": ("boxen.image.cli.tag", "give an image another name"),
    "save": ("boxen.image.cli.save", "write images to a docker-save archive or an OCI layout"),
    "load": ("boxen.image.cli.load", "read images from a docker-save archive or an OCI layout"),
    "prune": ("boxen.image.cli.prune", "remove content and snapshots no image references"),
    "login": ("boxen.image.cli.login", "store credentials for a registry"),
    "logout": ("boxen.image.cli.logout", "forget credentials for a registry"),
    "unpack": ("boxen.image.cli.unpack", "write an OCI runtime bundle from an image"),
    "scan": ("boxen.image.cli.scan", "list an image's packages and match them against advisories"),
    "build": ("boxen.image.cli.build", "build an image from a Dockerfile"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="boxen-image",
        description="Pull, push, store, save, load and unpack container images, without a daemon.",
        epilog="verbs:\n" + "\n".join(f"  {v:<9} {h}" for v, (_, h) in VERBS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--root", help="data root (default: $BOXEN_ROOT or /var/lib/boxen)")
    parser.add_argument("--registry-config", metavar="FILE",
                        help="registry configuration (default: ROOT/registries.json)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def _split(argv: list[str]) -> int | None:
    """Index of the verb in ``argv`` (global options may come first)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--root", "--registry-config"):
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return i
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    at = _split(argv)
    if at is None or argv[at] not in VERBS:
        args = parser.parse_args(argv)  # handles --help; otherwise there is no verb
        parser.error(f"expected a verb: {', '.join(VERBS)}" if at is None else f"unknown verb {argv[at]!r}")
    verb = argv[at]
    try:
        module = importlib.import_module(VERBS[verb][0])
    except ModuleNotFoundError as exc:
        if exc.name != VERBS[verb][0]:
            raise
        print(f"boxen-image: error: {verb} is not available in this build", file=sys.stderr)
        return 1
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    module.add_parser(subparsers)
    args = parser.parse_args(argv)
    from boxen.common.errors import BoxenError

    try:
        return module.run(args)
    except BoxenError as exc:
        if args.debug:
            raise
        print(f"boxen-image: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `boxen-image ls | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


__all__ = ["VERBS", "main"]
