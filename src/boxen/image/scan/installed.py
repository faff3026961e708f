"""The inventory of a root filesystem: every package that every package manager recorded.

:func:`inventory` reads the distribution (``os-release``), dpkg's and apk's databases and
the Python metadata, and returns one :class:`~boxen.image.scan.component.Component` per
package URL, the operating system first. The same distribution found in two places (two
virtual environments holding one version of ``requests``) is one component with two
locations; two versions are two components.
"""

from __future__ import annotations

from boxen.image.scan import apk, distro, dpkg, python
from boxen.image.scan.component import Component
from boxen.image.scan.rootfs import RootFS


def inventory(rootfs_dir: str) -> list[Component]:
    """The components installed in the root filesystem at ``rootfs_dir``.

    Raises NotFound if the directory does not exist, InvalidArgument if it is not a
    directory or a package database in it is malformed (naming the file and line).
    """
    root = RootFS(rootfs_dir)
    found = distro.detect(root)
    by_purl: dict[str, Component] = {}
    for component in dpkg.packages(root, found) + apk.packages(root, found) + python.packages(root):
        key = component.purl or component.name
        seen = by_purl.get(key)
        if seen is None:
            by_purl[key] = component
        else:
            by_purl[key] = seen.replace(locations=seen.locations + component.locations)
    packages = sorted(by_purl.values(), key=lambda c: (c.purl or "", c.name, c.version))
    return ([found.component()] if found else []) + packages
