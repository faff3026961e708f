"""Semantic versions (SemVer 2.0.0), the order of OSV's ``SEMVER`` ranges.

``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``. Precedence (SemVer section 11): compare major,
minor and patch as numbers; a version *with* a pre-release is older than the same version
without one (``1.0.0-rc.1 < 1.0.0``); pre-releases are compared identifier by identifier,
numeric identifiers as numbers and before alphanumeric ones, which compare as ASCII
strings, and a longer list wins when all shared identifiers are equal
(``1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-beta``). Build metadata does not count.

Advisories and packages often drop trailing zeros or keep a ``v`` prefix (``v1.2``); as OSV's
own tooling does, those are read as ``1.2.0``. Anything else is refused.
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument

_IDENT = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")


def _invalid(text: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"{text!r} is not a semantic version: {why}", field="version")


def _number(text: str, part: str) -> int:
    if not part.isascii() or not part.isdigit():
        raise _invalid(text, f"{part!r} is not a number")
    if len(part) > 1 and part[0] == "0":
        raise _invalid(text, f"{part!r} has a leading zero")
    return int(part)


def key(text: str) -> tuple[object, ...]:
    """A sort key: ``key(a) < key(b)`` exactly when ``a`` has lower precedence than ``b``."""
    core = text.removeprefix("v")
    core, _, _build = core.partition("+")
    core, dash, pre = core.partition("-")
    parts = core.split(".")
    if not 1 <= len(parts) <= 3:
        raise _invalid(text, "expected MAJOR.MINOR.PATCH")
    numbers = [_number(text, p) for p in parts] + [0] * (3 - len(parts))
    if not dash:
        return (*numbers, (1,))
    identifiers: list[tuple[int, object]] = []
    for ident in pre.split("."):
        if not ident or not _IDENT.issuperset(ident):
            raise _invalid(text, f"pre-release identifier {ident!r} is empty or not [0-9A-Za-z-]")
        if ident.isdigit():
            identifiers.append((0, _number(text, ident)))
        else:
            identifiers.append((1, ident))
    return (*numbers, (0, *identifiers))


def compare(a: str, b: str) -> int:
    """Negative if ``a`` has lower precedence than ``b``, 0 if equal, positive if higher."""
    ka, kb = key(a), key(b)
    return (ka > kb) - (ka < kb)
