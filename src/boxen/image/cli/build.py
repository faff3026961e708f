"""``boxen-image build [-t NAME]... [-f FILE] [--build-arg K=V]... [--target STAGE] CONTEXT``.

Builds the Dockerfile (default ``CONTEXT/Dockerfile``, else ``CONTEXT/Containerfile``) with
``CONTEXT`` as the build context. Steps are shown on stderr as docker and buildah show them
(``-q``: nothing; ``--json``: docker's build stream as JSON lines on stdout); the image ID, the
digest of the image's config, is printed on stdout. ``--explain`` says, on stderr, each step's
cache key and what it was computed from, each snapshot prepared and committed, and each layer
written. ``--build-arg NAME`` without a value takes ``NAME`` from the environment, as docker does.
``--secret`` and ``--ssh`` lend secrets and SSH agents to ``RUN`` steps that mount them
(:mod:`boxen.image.build.secrets`).
"""

from __future__ import annotations

import os

from boxen.common.flags import Arg, Flag
from boxen.image.cli import _common

ARGS = (Arg("context", help="the build context directory"),)
FLAGS = (
    Flag("tag,t", "list", metavar="NAME", help="name the image (repeatable)"),
    Flag("file,f", "str", metavar="FILE", help="the Dockerfile (default: CONTEXT/Dockerfile)"),
    Flag("build-arg", "list", metavar="NAME[=VALUE]", help="set a build argument (repeatable)"),
    Flag("target", "str", metavar="STAGE", help="build this stage (and what it needs), not the last one"),
    Flag("no-cache", help="run every step even if the layer cache has it"),
    Flag("pull", help="pull base images even when they are in the store"),
    Flag("platform", "str", metavar="OS/ARCH", help="platform of base images (default: this host)"),
    Flag("compression", "str", "gzip", choices=("gzip", "zstd", "none"),
         help="how new layers are compressed (default gzip)"),
    Flag("network", "str", "default", choices=("default", "none", "host"),
         help="network of RUN steps: their own namespace with only loopback (default, none) or the "
              "host's (host); RUN --network=... overrides it"),
    Flag("secret", "list", metavar="SECRET",
         help='secret to expose to RUN --mount=type=secret (format: "id=ID[,src=FILE|env=VAR]"; repeatable)'),
    Flag("ssh", "list", metavar="SSH",
         help='SSH agent socket to expose to RUN --mount=type=ssh (format: "default|ID[=SOCKET]", default: '
              '$SSH_AUTH_SOCK; repeatable)'),
    *_common.OUTPUT_FLAGS,
)
EXCLUSIVE = _common.OUTPUT_EXCLUSIVE


def build_args(values: list[str]) -> tuple[tuple[str, str], ...]:
    """``NAME=VALUE`` pairs; a bare ``NAME`` takes its value from the environment (skipped if unset)."""
    from boxen.common.errors import InvalidArgument

    out = []
    for value in values:
        name, eq, given = value.partition("=")
        if not name:
            raise InvalidArgument(f"--build-arg {value!r}: expected NAME=VALUE", field="--build-arg")
        if eq:
            out.append((name, given))
        elif name in os.environ:
            out.append((name, os.environ[name]))
    return tuple(out)


def _terminated(signum, frame) -> None:
    """SIGTERM ends the build like ^C does: steps clean up on the way out."""
    raise KeyboardInterrupt


def run(args) -> int:
    import signal
    import sys

    from boxen.image.build import progress
    from boxen.image.build.builder import BuildOptions, build
    from boxen.image.build.secrets import parse_secret, parse_ssh

    signal.signal(signal.SIGTERM, _terminated)
    root = _common.root(args)
    explain = _common.explainer(args)
    mode = "quiet" if args.quiet else "json" if args.json else "text"
    shown = progress.make(mode, sys.stdout if args.json else sys.stderr)

    def pulling():
        from boxen.image import progress as pull_progress

        return pull_progress.make("quiet" if args.quiet else "json" if args.json else "auto",
                                  sys.stdout if args.json else sys.stderr)

    options = BuildOptions(
        context=args.context, dockerfile=args.file, tags=tuple(args.tag), build_args=build_args(args.build_arg),
        target=args.target, no_cache=args.no_cache, pull=args.pull, platform=args.platform,
        compression=args.compression, network=args.network,
        secrets=tuple(parse_secret(value) for value in args.secret), ssh=tuple(parse_ssh(value) for value in args.ssh),
    )
    snapshotter = _common.snapshotter(root)
    if snapshotter is None:
        from boxen.common.errors import Unimplemented

        raise Unimplemented("this build of boxen has no snapshotter: builds need one")
    images = _common.images(root)
    try:
        result = build(root, options, content=_common.content(root), images=images, snapshotter=snapshotter,
                       progress=shown, explain=explain, pull_progress=pulling,
                       client=lambda: _common.client(args, root, explain))
    finally:
        images.close()
        snapshotter.close()
    if not args.json:
        print(result.image_id)
    return 0
