"""Alpine packages: apk's database of installed packages.

apk keeps ``/lib/apk/db/installed`` as one block of ``K:value`` lines per package, blocks
separated by blank lines; the one-letter keys are apk's index format::

    P:musl                  package name
    V:1.2.4-r2              version
    A:x86_64                architecture
    L:MIT                   licence (SPDX in current Alpine)
    o:musl                  origin: the source package (APKBUILD) it was built from
    T:the musl c library    description
    F:lib                   then the package's directories (F:) and files (R:), ...

Alpine's advisories (its secdb, and OSV's ``Alpine:v3.19`` ecosystem) name the origin.
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument
from boxen.image.scan import licenses, purl
from boxen.image.scan.component import LIBRARY, Component
from boxen.image.scan.distro import Distro
from boxen.image.scan.rootfs import RootFS

INSTALLED = "/lib/apk/db/installed"
_DB_LIMIT = 256 * 1024 * 1024
_KEYS = frozenset("PVALoT")


def _blocks(text: str) -> list[tuple[int, dict[str, str]]]:
    """``(first line, {key: first value})`` for each block, keeping only the keys we use."""
    blocks: list[tuple[int, dict[str, str]]] = []
    fields: dict[str, str] = {}
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if fields:
                blocks.append((start, fields))
            fields = {}
            continue
        if len(line) < 2 or line[1] != ":":
            raise InvalidArgument(f"expected 'K:value', got {line[:60]!r}", field=f"{INSTALLED}:{number}")
        if not fields:
            start = number
        if line[0] in _KEYS:
            fields.setdefault(line[0], line[2:])
    if fields:
        blocks.append((start, fields))
    return blocks


def _licenses(field: str) -> tuple[str, ...]:
    if not field:
        return ()
    if licenses.is_expression(field):
        return licenses.normalize_expression(field)
    return tuple(dict.fromkeys(licenses.normalize(name) for name in field.split()))


def packages(root: RootFS, distro: Distro | None) -> list[Component]:
    """The Alpine packages installed in ``root`` (none if it has no apk database)."""
    text = root.read_text(INSTALLED, _DB_LIMIT)
    if text is None:
        return []
    found = []
    for line, fields in _blocks(text):
        name, version = fields.get("P"), fields.get("V")
        if not name or not version:
            raise InvalidArgument("a package has no P: (name) or no V: (version) line", field=f"{INSTALLED}:{line}")
        arch = fields.get("A") or None
        origin = fields.get("o") or name
        qualifiers = {
            "arch": arch,
            "distro": distro.purl_distro if distro else None,
            "upstream": origin if origin != name else None,
        }
        found.append(
            Component(
                type=LIBRARY,
                name=name,
                version=version,
                purl=purl.build("apk", distro.id if distro else "alpine", name, version, qualifiers),
                ecosystem=distro.ecosystem() if distro else None,
                source_name=origin,
                source_version=version,
                arch=arch,
                licenses=_licenses(fields.get("L", "")),
                description=fields.get("T") or None,
                locations=(INSTALLED,),
            )
        )
    return found
