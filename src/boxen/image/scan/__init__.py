"""Image scanning: what is installed in a root filesystem, and which advisories affect it.

A container image is a root filesystem, and the package managers that built it left their
records inside: dpkg's ``var/lib/dpkg/status``, apk's ``lib/apk/db/installed``, and one
``*.dist-info`` directory per Python distribution. Reading those records gives an
**inventory**, published as a software bill of materials (SBOM), and comparing each
installed version with the affected ranges of **advisories** gives the **findings**::

    components = inventory("/path/to/rootfs")
    bom = to_cyclonedx(components, BomMetadata("docker.io/library/debian:12"))
    findings = match(components, load_advisories("/path/to/osv"))

The parts, in the order a scan runs them:

* :mod:`~boxen.image.scan.rootfs`: reading the image's files without following its
  symlinks out of it;
* :mod:`~boxen.image.scan.installed`: :func:`inventory`, the components found by
  :mod:`~boxen.image.scan.dpkg`, :mod:`~boxen.image.scan.apk` and
  :mod:`~boxen.image.scan.python`, with package URLs (:mod:`~boxen.image.scan.purl`),
  licences (:mod:`~boxen.image.scan.licenses`) and the distribution
  (:mod:`~boxen.image.scan.distro`);
* :mod:`~boxen.image.scan.cyclonedx`: :func:`to_cyclonedx`, the SBOM;
* :mod:`~boxen.image.scan.osv`: :func:`load_advisories`, OSV files into an :class:`Index`;
* :mod:`~boxen.image.scan.versions`: each ecosystem's version order (dpkg, apk, PEP 440,
  SemVer), because "is 1.0~rc1 older than 1.0?" has a different answer in each;
* :mod:`~boxen.image.scan.matching`: :func:`match`, OSV's evaluation of ranges and versions;
* :mod:`~boxen.image.scan.severity` and :mod:`~boxen.image.scan.cvss`: one level per finding;
* :mod:`~boxen.image.scan.report`: the table, the JSON report and the exit-code rule.
"""

from boxen.image.scan.component import Component
from boxen.image.scan.cyclonedx import BomMetadata, to_cyclonedx
from boxen.image.scan.installed import inventory
from boxen.image.scan.matching import Finding, match
from boxen.image.scan.osv import Index, load_advisories

__all__ = ["BomMetadata", "Component", "Finding", "Index", "inventory", "load_advisories", "match", "to_cyclonedx"]
