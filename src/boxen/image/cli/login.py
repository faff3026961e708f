"""``boxen-image login -u USER [-p PASSWORD | --password-stdin] REGISTRY``.

The credentials are checked against the registry first (as ``docker login`` does), then
stored in docker's ``config.json`` where docker, podman and skopeo find them too.
"""

from __future__ import annotations

from boxen.common.flags import Arg, Flag
from boxen.image.cli import _common

ARGS = (Arg("registry", help="host[:port] (docker.io for Docker Hub)"),)
FLAGS = (
    Flag("username,u", "str", metavar="NAME", required=True, help="user name"),
    Flag("password,p", "str", metavar="PASSWORD", help="password (visible to other users: prefer --password-stdin)"),
    Flag("password-stdin", help="read the password from stdin"),
    Flag("explain", help="say each request (on stderr)"),
)


def run(args) -> int:
    import sys

    from boxen.common.errors import InvalidArgument
    from boxen.image import reference
    from boxen.image.registry import credentials

    if args.password_stdin == (args.password is not None):
        raise InvalidArgument("give exactly one of --password and --password-stdin", field="--password")
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else args.password
    domain = reference.parse(f"{args.registry}/x", field="registry").domain
    root = _common.root(args)
    with _common.client(args, root, _common.explainer(args)) as client:
        client.credentials = lambda d: (args.username, password)
        client.check_login(reference.parse(f"{args.registry}/x"))
    path = credentials.store(domain, args.username, password)
    print(f"Login Succeeded (credentials stored in {path})")
    return 0
