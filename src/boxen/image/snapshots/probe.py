"""Does overlayfs work here? Asked once per data root, by trying it.

Whether the overlay snapshotter can be used depends on more than the kernel having
overlayfs: mounting needs ``CAP_SYS_ADMIN``, and the file system under the data root must
accept what an upper directory holds (character devices 0/0 as whiteouts, ``trusted.*``
extended attributes for opaque directories) and be one overlayfs can stack on (not itself an
overlay, as inside many containers). The reliable test is the real thing: this module builds
a lower and an upper directory on the data root's file system, with a whiteout and an opaque
directory written the way :mod:`boxen.image.layers` writes them, mounts the overlay (with the
runtime's :func:`boxen.runtime.host.mount`), checks that the merged view hides what it
should, and unmounts.

The answer is remembered by the directory it creates: once ``<root>/overlay`` or
``<root>/native`` exists, :func:`choose_kind` returns that kind without probing again (the
two keep their data in different layouts, so a root does not switch kinds by itself).
"""

from __future__ import annotations

import os

from boxen.common.errors import BoxenError
from boxen.image.layers.paths import OVERLAY_OPAQUE
from boxen.image.layers.tree import remove_tree
from boxen.image.snapshots import KINDS


def choose_kind(root: str) -> str:
    """``overlay`` or ``native`` for the data root ``root``: the one in use, else the probe's answer."""
    for kind in KINDS:
        if os.path.isdir(os.path.join(root, kind)):
            return kind
    return "overlay" if overlay_works(root) else "native"


def overlay_works(root: str) -> bool:
    """Whether an overlay mount with boxen's whiteouts behaves correctly on ``root``'s file system."""
    if os.geteuid() != 0:
        return False
    from boxen.runtime.host import mount, unmount

    os.makedirs(root, exist_ok=True)
    tmp = os.path.join(root, f"overlay-probe-{os.getpid()}-{os.urandom(4).hex()}")
    os.mkdir(tmp, 0o700)
    try:
        return _try_overlay(tmp, mount, unmount)
    finally:
        remove_tree(tmp)


def _try_overlay(tmp: str, mount, unmount) -> bool:
    """Build lower and upper directories in ``tmp``, mount them as an overlay and look."""
    lower, upper, work, merged = (os.path.join(tmp, d) for d in ("lower", "upper", "work", "merged"))
    for d in (lower, upper, work, merged, f"{lower}/dir", f"{upper}/dir"):
        os.mkdir(d)
    for path in (f"{lower}/deleted", f"{lower}/dir/hidden", f"{upper}/kept"):
        open(path, "w").close()
    try:
        os.mknod(f"{upper}/deleted", 0o020000, 0)  # S_IFCHR, device 0/0: a whiteout
        os.setxattr(f"{upper}/dir", OVERLAY_OPAQUE, b"y")
    except OSError:
        return False
    options = (f"lowerdir={lower}", f"upperdir={upper}", f"workdir={work}", "index=off")
    try:
        # "volatile" (Linux 5.10): no sync of the upper file system at unmount, which would
        # otherwise write back everything dirty on it (about 9 ms here, during a first pull)
        mount("overlay", "overlay", merged, (*options, "volatile"))
    except BoxenError:
        try:
            mount("overlay", "overlay", merged, options)
        except BoxenError:
            return False
    try:
        return sorted(os.listdir(merged)) == ["dir", "kept"] and os.listdir(f"{merged}/dir") == []
    finally:
        unmount(merged)
