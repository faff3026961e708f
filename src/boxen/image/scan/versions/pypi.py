"""Python package versions (PEP 440), ordered as pip orders them.

PEP 440 versions look like ``[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]``: an optional
epoch, a release of any length (``1.0`` and ``1.0.0`` are the *same* version), then
pre-release, post-release and development markers, and a local label that only
distributors add. The order is ``1.0.dev0 < 1.0a1 < 1.0b1 < 1.0rc1 < 1.0 < 1.0.post1``.

The ``packaging`` library (what pip itself uses) implements the specification; this
module only turns its errors into boxen's.
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from boxen.common.errors import InvalidArgument


def key(text: str) -> Version:
    """A sort key (a :class:`packaging.version.Version`); raises on a non-PEP 440 version."""
    try:
        return Version(text)
    except InvalidVersion:
        raise InvalidArgument(f"{text!r} is not a PEP 440 version", field="version") from None


def compare(a: str, b: str) -> int:
    """Negative if ``a`` is older than ``b``, 0 if they are equal, positive if newer."""
    ka, kb = key(a), key(b)
    return (ka > kb) - (ka < kb)
