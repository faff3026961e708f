"""A component: one installed package, the unit of an SBOM and of a finding.

A software bill of materials lists *components*; for an image these are the packages
that its package managers installed (and the operating system itself). Each is named
three ways, for three readers:

* ``name`` and ``version`` as the package manager spells them, for people;
* a **package URL** (purl, ``pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12``),
  the cross-tool identifier that SBOM consumers look packages up by;
* an **OSV ecosystem** (``Debian:12``, ``Alpine:v3.19``, ``PyPI``), the namespace in which
  advisories name affected packages, together with the **source package**: Debian and
  Alpine publish advisories per source package (``openssl``), while images install binary
  packages built from it (``libssl3``, ``openssl``).
"""

from __future__ import annotations

from boxen.common.record import Record

#: CycloneDX component types used for inventories.
LIBRARY = "library"
OPERATING_SYSTEM = "operating-system"


class Component(Record):
    """One installed package (or the operating system) found in a root filesystem.

    ``licenses`` holds SPDX identifiers where they are known, one SPDX expression, or
    the names the package gave; ``locations`` are the container paths of the records
    it was read from.
    """

    type: str
    name: str
    version: str
    purl: str | None = None
    ecosystem: str | None = None
    source_name: str | None = None
    source_version: str | None = None
    arch: str | None = None
    licenses: tuple[str, ...] = ()
    description: str | None = None
    locations: tuple[str, ...] = ()

    @property
    def advisory_name(self) -> str:
        """The name advisories use for this package: the source package's where there is one."""
        return self.source_name or self.name

    @property
    def advisory_version(self) -> str:
        """The version advisories compare: the source package's where there is one."""
        return self.source_version or self.version
