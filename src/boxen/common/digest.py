"""Content digests: ``algorithm:hex``, the names of everything in a content-addressed store.

An OCI digest such as ``sha256:6c3c62...`` names a blob by the hash of its bytes, so a blob
fetched from anywhere can be checked against its name. The image spec registers ``sha256``
and ``sha512``; the hex part is lowercase and exactly as long as the algorithm's output.

:class:`Digester` hashes a stream as it is written, so a download is verified without
reading it twice.
"""

from __future__ import annotations

import hashlib

from boxen.common.errors import InvalidArgument

#: Algorithms boxen accepts, with the length of their hex encoding.
ALGORITHMS = {"sha256": 64, "sha512": 128}
_HEX = frozenset("0123456789abcdef")


def validate(digest: str, field: str = "digest") -> str:
    """Return ``digest`` if it is a well-formed digest of a known algorithm, else raise."""
    if not isinstance(digest, str):
        raise InvalidArgument(f"expected a digest string, got {type(digest).__name__}", field=field)
    algorithm, sep, encoded = digest.partition(":")
    if not sep:
        raise InvalidArgument(f"{digest!r} is not a digest (expected algorithm:hex)", field=field)
    length = ALGORITHMS.get(algorithm)
    if length is None:
        raise InvalidArgument(
            f"unsupported digest algorithm {algorithm!r} (expected one of {', '.join(ALGORITHMS)})", field=field
        )
    if len(encoded) != length or not _HEX.issuperset(encoded):
        raise InvalidArgument(f"{digest!r} is not a valid {algorithm} digest ({length} lowercase hex digits)", field=field)
    return digest


def split(digest: str) -> tuple[str, str]:
    """``("sha256", "6c3c...")`` from ``"sha256:6c3c..."`` (validated)."""
    algorithm, _, encoded = validate(digest).partition(":")
    return algorithm, encoded


def of_bytes(data: bytes, algorithm: str = "sha256") -> str:
    """The digest of ``data``."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


class Digester:
    """Hashes bytes as they are written; :attr:`digest` is the digest so far."""

    __slots__ = ("algorithm", "_hash", "size")

    def __init__(self, algorithm: str = "sha256") -> None:
        if algorithm not in ALGORITHMS:
            raise InvalidArgument(f"unsupported digest algorithm {algorithm!r}", field="algorithm")
        self.algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self.size = 0

    def update(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    @property
    def digest(self) -> str:
        return f"{self.algorithm}:{self._hash.hexdigest()}"
