"""``boxen-image logout REGISTRY``: remove its credentials from docker's ``config.json``."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("logout", help="forget credentials for a registry")
    p.add_argument("registry")


def run(args) -> int:
    from boxen.image import reference
    from boxen.image.registry import credentials

    domain = reference.parse(f"{args.registry}/x", field="registry").domain
    credentials.remove(domain)
    print(f"Removing login credentials for {domain}")
    return 0
