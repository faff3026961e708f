"""Version orderings, one per packaging ecosystem.

"Is 3.0.11-1~deb12u2 older than 3.0.13-1~deb12u1?" has a different answer in every
ecosystem: Debian's ``~`` sorts before the end of the string, Alpine's ``_rc1`` marks a
pre-release, Python's ``1.0`` equals ``1.0.0``. An advisory says which versions are
affected *in its ecosystem's order*, so a scanner that compares versions as strings, or
with the wrong ecosystem's rules, reports fixed packages as vulnerable or misses
vulnerable ones.

Each :class:`Scheme` turns a version string into a sort key (raising
:class:`~boxen.common.errors.InvalidArgument` for a string its ecosystem does not allow), so
versions compare with ``<`` and sort with ``sorted(..., key=scheme.key)``.
:func:`for_range` picks the scheme that OSV's rules give to a range: an ``ECOSYSTEM`` range
uses the package's ecosystem order, a ``SEMVER`` range uses SemVer whatever the ecosystem.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from boxen.common.record import Record
from boxen.image.scan.versions import alpine, debian, pypi, semver


class Scheme(Record):
    """A named version ordering: ``key(version)`` is a sortable value."""

    name: str
    key: Callable[[str], Any]

    def compare(self, a: str, b: str) -> int:
        """Negative if ``a`` is older than ``b``, 0 if equal, positive if newer."""
        ka, kb = self.key(a), self.key(b)
        return (ka > kb) - (ka < kb)


_DebianKey = functools.cmp_to_key(debian.compare_parsed)


def _debian_key(version: str) -> object:
    return _DebianKey(debian.parse(version))

DEBIAN = Scheme("Debian", _debian_key)
ALPINE = Scheme("Alpine", alpine.key)
PYPI = Scheme("PyPI", pypi.key)
SEMVER = Scheme("SemVer", semver.key)

#: OSV ecosystem name (without its ``:release`` suffix) -> the ecosystem's version order.
BY_ECOSYSTEM = {"Debian": DEBIAN, "Alpine": ALPINE, "PyPI": PYPI}


def for_ecosystem(ecosystem: str) -> Scheme | None:
    """The order of an OSV ecosystem such as ``Debian:12``, or None if boxen has none for it."""
    return BY_ECOSYSTEM.get(ecosystem.partition(":")[0])


def for_range(range_type: str, ecosystem: str) -> Scheme | None:
    """The order of an OSV range: SemVer for ``SEMVER``, the ecosystem's for ``ECOSYSTEM``.

    ``GIT`` ranges (commit hashes) cannot be ordered without the repository: None.
    """
    if range_type == "SEMVER":
        return SEMVER
    if range_type == "ECOSYSTEM":
        return for_ecosystem(ecosystem)
    return None
