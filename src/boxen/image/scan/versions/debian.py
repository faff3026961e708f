"""Debian package versions, ordered exactly as ``dpkg --compare-versions`` orders them.

A Debian version is ``[epoch:]upstream_version[-debian_revision]`` (Debian Policy 5.6.12):

* the **epoch** is a small unsigned integer, ``0`` when absent; it is compared first and
  lets a package go "back" to a lower upstream number (``1:2.66-4`` is newer than ``3.0-1``);
* the **upstream version** is everything between the first ``:`` and the last ``-``;
* the **revision** is what follows the last ``-`` (``""`` when there is none, which orders
  like ``"0"``): ``+deb12u3`` in ``2.66-4+deb12u3`` is Debian's twelfth release's third
  security update.

Upstream and revision are compared by dpkg's ``verrevcmp``: each string is read as
alternating runs of non-digits and digits. Non-digit runs are compared character by
character where letters sort before every other character, and ``~`` sorts before
*everything*, even the end of the string, so ``1.0~rc1`` is older than ``1.0``; digit runs
are compared as numbers (an empty run is 0). Advisories name fixes by these versions
(``fixed: 3.0.13-1~deb12u1``), so the scanner must order them exactly as dpkg does; the
unit tests check it against the real ``dpkg`` binary.
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument
from boxen.common.record import Record

_EPOCH_MAX = 2**31 - 1  # dpkg keeps the epoch in an int


class DebianVersion(Record):
    """A parsed version: ``epoch``, ``upstream`` and ``revision`` (``""`` when absent)."""

    epoch: int
    upstream: str
    revision: str

    def __str__(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        revision = f"-{self.revision}" if self.revision else ""
        return f"{epoch}{self.upstream}{revision}"


def parse(text: str) -> DebianVersion:
    """Split ``text`` into epoch, upstream version and revision, refusing what dpkg refuses."""
    version = text.strip()
    if not version:
        raise InvalidArgument("version string is empty", field="version")
    if any(c.isspace() for c in version):
        raise InvalidArgument(f"version {text!r} has embedded spaces", field="version")
    if not version.isascii():
        raise InvalidArgument(f"version {text!r} has characters outside ASCII", field="version")
    epoch = 0
    head, colon, rest = version.partition(":")
    if colon:
        if not head.isascii() or not head.isdigit():
            raise InvalidArgument(f"epoch in version {text!r} is not a number", field="version")
        epoch = int(head)
        if epoch > _EPOCH_MAX:
            raise InvalidArgument(f"epoch in version {text!r} is too big", field="version")
        if not rest:
            raise InvalidArgument(f"nothing after the colon in version {text!r}", field="version")
        version = rest
    upstream, dash, revision = version.rpartition("-")
    if not dash:
        upstream, revision = version, ""
    elif not revision:
        raise InvalidArgument(f"revision in version {text!r} is empty", field="version")
    if not upstream:
        raise InvalidArgument(f"upstream version in {text!r} is empty", field="version")
    return DebianVersion(epoch, upstream, revision)


def _order(c: str) -> int:
    """dpkg's weight of one character in a non-digit run: ``~`` < end < letters < others."""
    if c == "~":
        return -1
    if c.isascii() and c.isalpha():
        return ord(c)
    return ord(c) + 256


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def verrevcmp(a: str, b: str) -> int:
    """Compare two upstream versions or two revisions; negative, zero or positive."""
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        # A non-digit run; the end of a string and the start of a digit run weigh 0.
        while (i < la and not _is_digit(a[i])) or (j < lb and not _is_digit(b[j])):
            wa = _order(a[i]) if i < la and not _is_digit(a[i]) else 0
            wb = _order(b[j]) if j < lb and not _is_digit(b[j]) else 0
            if wa != wb:
                return wa - wb
            i += 1
            j += 1
        # A digit run, compared as a number.
        si = i
        while i < la and _is_digit(a[i]):
            i += 1
        sj = j
        while j < lb and _is_digit(b[j]):
            j += 1
        na = int(a[si:i]) if i > si else 0
        nb = int(b[sj:j]) if j > sj else 0
        if na != nb:
            return -1 if na < nb else 1
    return 0


def compare_parsed(a: DebianVersion, b: DebianVersion) -> int:
    """Compare two parsed versions: epoch, then upstream, then revision."""
    if a.epoch != b.epoch:
        return -1 if a.epoch < b.epoch else 1
    return verrevcmp(a.upstream, b.upstream) or verrevcmp(a.revision, b.revision)


def compare(a: str, b: str) -> int:
    """``dpkg --compare-versions``: negative if ``a`` is older than ``b``, 0 if equal, else positive."""
    return compare_parsed(parse(a), parse(b))
