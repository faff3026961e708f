"""``boxen-image logout REGISTRY``: remove its credentials from docker's ``config.json``."""

from __future__ import annotations

from boxen.common.flags import Arg

ARGS = (Arg("registry"),)
FLAGS = ()


def run(args) -> int:
    from boxen.image import reference
    from boxen.image.registry import credentials

    domain = reference.parse(f"{args.registry}/x", field="registry").domain
    credentials.remove(domain)
    print(f"Removing login credentials for {domain}")
    return 0
