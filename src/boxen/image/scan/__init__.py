"""Image scanning: what is installed in a root filesystem, and which advisories affect it.

A container image is a root filesystem, and the package managers that built it left their
records inside: dpkg's ``var/lib/dpkg/status``, apk's ``lib/apk/db/installed``, and one
``*.dist-info`` directory per Python distribution. Reading those records gives an
**inventory** (a software bill of materials, SBOM), and comparing each installed version
with the affected ranges of **advisories** gives the **findings**.

The parts, in the order a scan runs them:

* :mod:`~boxen.image.scan.rootfs`: reading the image's files without following its
  symlinks out of it;
* :mod:`~boxen.image.scan.installed`: :func:`inventory`, the components found by
  :mod:`~boxen.image.scan.dpkg`, :mod:`~boxen.image.scan.apk` and
  :mod:`~boxen.image.scan.python`, with package URLs (:mod:`~boxen.image.scan.purl`) and
  licences (:mod:`~boxen.image.scan.licenses`);
* :mod:`~boxen.image.scan.versions`: each ecosystem's version order (dpkg, apk, PEP 440,
  SemVer), because "is 1.0~rc1 older than 1.0?" has a different answer in each.
"""

from boxen.image.scan.component import Component
from boxen.image.scan.installed import inventory

__all__ = ["Component", "inventory"]
