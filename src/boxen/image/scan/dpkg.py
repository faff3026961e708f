"""Debian packages: dpkg's database and the packages' copyright files.

dpkg records every package it knows in ``/var/lib/dpkg/status`` (deb822 paragraphs, see
:mod:`~boxen.image.scan.deb822`). The ``Status`` field is ``want flag state``; a package's
files are on disk in every state except ``not-installed`` and ``config-files``, so those
two are skipped. Distroless images have no status file but one paragraph per package in
``/var/lib/dpkg/status.d/`` (and ``*.md5sums`` files beside them, which are not
paragraphs).

A binary package is built from a **source package** (``libssl3`` from ``openssl``); the
``Source`` field names it when the names differ, with the source's version in
parentheses when that differs too (``Source: libcap2 (1:2.66-4+deb12u3)``). Debian's
advisories are per source package.

Licences are not in the database. Packages that follow DEP-5 ship a machine-readable
``/usr/share/doc/<package>/copyright`` whose ``Files`` paragraphs each name a licence
(``GPL-2+``, ``BSD-3-clause or GPL-2``); those names, mapped to SPDX where certain, are
the package's licences.
"""

from __future__ import annotations

import re

from boxen.common.errors import InvalidArgument
from boxen.image.scan import deb822, licenses, purl
from boxen.image.scan.component import LIBRARY, Component
from boxen.image.scan.distro import Distro
from boxen.image.scan.rootfs import RootFS

STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d"
_DB_LIMIT = 256 * 1024 * 1024
_COPYRIGHT_LIMIT = 4 * 1024 * 1024
_NOT_ON_DISK = frozenset({"not-installed", "config-files"})
_SOURCE = re.compile(r"^(\S+)(?:\s+\((\S+)\))?$")
_LICENSE_SPLIT = re.compile(r"\s+(?:and/or|or|and)\s+|\s*[,|&]\s*", re.IGNORECASE)
_WITH = re.compile(r"\s+with\s+.*$", re.IGNORECASE)


def _component(fields: dict[str, str], path: str, line: int, distro: Distro | None, root: RootFS) -> Component | None:
    state = fields.get("status", "install ok installed").split()[-1]
    if state in _NOT_ON_DISK:
        return None
    name = fields.get("package")
    version = fields.get("version")
    if not name or not version:
        raise InvalidArgument("a paragraph has no Package or no Version field", field=f"{path}:{line}")
    arch = fields.get("architecture") or None
    source_name, source_version = name, version
    if fields.get("source"):
        match = _SOURCE.match(fields["source"])
        if not match:
            raise InvalidArgument(
                f"Source field {fields['source']!r} of {name} is not 'name [(version)]'", field=f"{path}:{line}"
            )
        source_name, source_version = match.group(1), match.group(2) or version
    namespace = distro.id if distro else "debian"
    qualifiers = {
        "arch": arch,
        "distro": distro.purl_distro if distro else None,
        "upstream": source_name if source_name != name else None,
    }
    return Component(
        type=LIBRARY,
        name=name,
        version=version,
        purl=purl.build("deb", namespace, name, version, qualifiers),
        ecosystem=distro.ecosystem() if distro else "Debian",
        source_name=source_name,
        source_version=source_version,
        arch=arch,
        licenses=copyright_licenses(root, name),
        description=fields.get("description", "").split("\n")[0] or None,
        locations=(path,),
    )


def copyright_licenses(root: RootFS, package: str) -> tuple[str, ...]:
    """The licences named by ``/usr/share/doc/<package>/copyright`` if it is DEP-5, else ()."""
    path = f"/usr/share/doc/{package}/copyright"
    text = root.read_text(path, _COPYRIGHT_LIMIT)
    if not text or "copyright-format" not in text.split("\n\n", 1)[0]:
        return ()
    found: dict[str, None] = {}
    try:
        for _, fields in deb822.paragraphs(text, path):
            if "files" not in fields or "license" not in fields:
                continue
            short = fields["license"].split("\n")[0]
            for atom in _LICENSE_SPLIT.split(short):
                atom = _WITH.sub("", atom).strip(" ()")
                if atom:
                    found[licenses.normalize(atom)] = None
    except InvalidArgument:
        return ()  # not machine-readable after all: the licence is unknown, not an error
    return tuple(found)


def packages(root: RootFS, distro: Distro | None) -> list[Component]:
    """The Debian packages installed in ``root`` (none if it has no dpkg database)."""
    found: list[Component] = []
    sources = [STATUS] + [f"{STATUS_D}/{n}" for n in root.listdir(STATUS_D) if not n.endswith(".md5sums")]
    for path in sources:
        text = root.read_text(path, _DB_LIMIT)
        if text is None:
            continue
        for line, fields in deb822.paragraphs(text, path):
            component = _component(fields, path, line, distro, root)
            if component is not None:
                found.append(component)
    return found
