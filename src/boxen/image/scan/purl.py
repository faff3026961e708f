"""Package URLs (purl): ``pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS``.

A purl names a package the same way in every tool: ``pkg:deb/debian/curl@7.88.1-10?arch=amd64``,
``pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64``, ``pkg:pypi/requests@2.31.0``. The
specification fixes the details that make two tools' purls compare equal: the type is
lowercase; each part is percent-encoded (so ``+`` in ``1.0+dfsg`` is ``%2B``, while ``:`` may
stay); qualifiers are sorted by key and empty ones left out; and each type may normalise
its names (PyPI names are lowercase with ``-`` for ``_``).
"""

from __future__ import annotations

from urllib.parse import quote


def _encode(text: str) -> str:
    return quote(text, safe=":")


def build(
    type: str, namespace: str | None, name: str, version: str | None, qualifiers: dict[str, str | None] | None = None
) -> str:
    """The canonical purl string of the given parts."""
    out = ["pkg:", type.lower(), "/"]
    if namespace:
        out.append("/".join(_encode(seg) for seg in namespace.split("/") if seg))
        out.append("/")
    out.append(_encode(name))
    if version:
        out.append("@" + _encode(version))
    pairs = sorted((k.lower(), v) for k, v in (qualifiers or {}).items() if v)
    if pairs:
        out.append("?" + "&".join(f"{k}={_encode(v)}" for k, v in pairs))  # type: ignore[arg-type]
    return "".join(out)
