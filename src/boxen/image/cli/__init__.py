"""boxen-image: a daemonless image tool, like skopeo, umoci and ``ctr images``.

Every verb is one module holding its ``ARGS`` and ``FLAGS`` (:mod:`boxen.common.flags`,
read the way docker and skopeo read theirs) and ``run(args) -> int``; the table below maps
verbs to modules, and only the module of the verb being run is imported (so ``boxen-image ls``
does not load the registry client). Global options come before the verb::

    boxen-image [--root DIR] [--registry-config FILE] [--debug] VERB ...

The data root is ``--root``, else ``$BOXEN_ROOT``, else ``/var/lib/boxen``. Errors are
printed as one line (``boxen-image: error: ...``) with exit status 1, a command line that
cannot be read with exit status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import importlib
import sys

from boxen.common.errors import InvalidArgument
from boxen.common.flags import Flag, bind, parse_gnu, usage

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

HELP = Flag("help,h", help="show this help")
GLOBAL_FLAGS = (
    Flag("root", "str", metavar="DIR", help="data root (default: $BOXEN_ROOT or /var/lib/boxen)"),
    Flag("registry-config", "str", metavar="FILE", help="registry configuration (default: ROOT/registries.json)"),
    Flag("debug", help="show tracebacks"),
    HELP,
)
#: exit status of a command line that could not be read (as argparse and getopt-style tools use)
EXIT_USAGE = 2


class Args:
    """The options and arguments of one command line, as attributes (``args.root``, ``args.quiet``)."""

    debug: bool  # one of GLOBAL_FLAGS, read here; the verbs read their own options

    def __init__(self, values: dict[str, object]) -> None:
        self.__dict__.update(values)


def _help() -> str:
    verbs = "\n".join(f"  {verb:<9} {summary}" for verb, (_, summary) in VERBS.items())
    return (f"Usage: boxen-image [OPTIONS] VERB ...\n\n"
            f"Pull, push, store, save, load and unpack container images, without a daemon.\n\n"
            f"Verbs:\n{verbs}\n\nOptions:\n{usage(GLOBAL_FLAGS, gnu=True)}\n\n"
            f"Run 'boxen-image VERB --help' for a verb's options.\n")


def _verb_help(verb: str, module) -> str:
    about = getattr(module, "DESCRIPTION", VERBS[verb][1])
    line = " ".join(("Usage: boxen-image", verb, "[OPTIONS]", *(a.usage for a in module.ARGS)))
    text = f"{line}\n\n{about}\n\n"
    if any(a.help for a in module.ARGS):
        text += f"Arguments:\n{usage((), module.ARGS, gnu=True)}\n\n"
    return text + f"Options:\n{usage((*module.FLAGS, HELP), gnu=True)}\n"


def _usage_error(message: str, see: str) -> int:
    print(f"boxen-image: error: {message}\nSee '{see} --help'.", file=sys.stderr)
    return EXIT_USAGE


def _exclusive(module, values: dict[str, object]) -> None:
    """A verb's ``EXCLUSIVE`` groups: flags that cannot be given together."""
    for group in getattr(module, "EXCLUSIVE", ()):
        given = [key for key in group if values[key]]
        if len(given) > 1:
            names = " and ".join("--" + key.replace("_", "-") for key in given)
            raise InvalidArgument(f"{names} cannot be used together", field="--" + given[0].replace("_", "-"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        values, rest = parse_gnu(GLOBAL_FLAGS, argv, interspersed=False)
    except InvalidArgument as exc:
        return _usage_error(str(exc), "boxen-image")
    if values["help"]:
        sys.stdout.write(_help())
        return 0
    if not rest or rest[0] not in VERBS:
        message = f"unknown verb {rest[0]!r}" if rest else "expected a verb"
        return _usage_error(f"{message}: one of {', '.join(VERBS)}", "boxen-image")
    verb = rest[0]
    try:
        module = importlib.import_module(VERBS[verb][0])
    except ModuleNotFoundError as exc:
        if exc.name != VERBS[verb][0]:
            raise
        print(f"boxen-image: error: {verb} is not available in this build", file=sys.stderr)
        return 1
    flags = (*module.FLAGS, HELP)
    try:
        options, positional = parse_gnu(flags, rest[1:])
        if options["help"]:
            sys.stdout.write(_verb_help(verb, module))
            return 0
        bind(flags, module.ARGS, options, positional)
        _exclusive(module, options)
    except InvalidArgument as exc:
        return _usage_error(str(exc), f"boxen-image {verb}")
    del options["help"]
    args = Args({**values, **options})
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
