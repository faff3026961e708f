"""Mounts on the host, for the layers above the runtime (image snapshots, builds, the engine).

A snapshotter describes a container's root filesystem as mounts, data like ``overlay`` with
``lowerdir=...,upperdir=...,workdir=...``, but never mounts anything itself (containerd's rule).
Whoever prepares a bundle mounts them on the bundle's ``rootfs`` and unmounts them when the
container is gone. This module is that step; it is the only way code outside the runtime
reaches the ``mount`` system call.

``options`` are fstab words, split as the runtime splits ``mounts[].options``: flags
(``ro``, ``nosuid``...), ``bind``/``rbind``, and the rest passed to the filesystem as data.
"""

from __future__ import annotations

from boxen.runtime.linux import constants as C
from boxen.runtime.rootfs import parse_options


def mount(fstype: str, source: str, target: str, options=()) -> None:
    """Mount ``source`` (of type ``fstype``, or a bind mount for ``bind``) on ``target``."""
    from boxen.runtime.linux.kernel import KERNEL

    parsed = parse_options(tuple(options), "options")
    flags = parsed.flags
    if fstype == "bind" or flags & C.MS_BIND:
        KERNEL.mount(source, target, None, C.MS_BIND | (flags & C.MS_REC))
        rest = flags & ~(C.MS_BIND | C.MS_REC)
        if rest:
            KERNEL.mount(None, target, None, C.MS_BIND | C.MS_REMOUNT | rest)
        return
    KERNEL.mount(source, target, fstype, flags, parsed.data or None)


def mount_all(mounts, target: str) -> None:
    """Mount each of ``mounts`` (objects with ``type``, ``source``, ``options``) on ``target``."""
    done = 0
    try:
        for m in mounts:
            mount(m.type, m.source, target, m.options)
            done += 1
    except BaseException:
        for _ in range(done):
            unmount(target)
        raise


def unmount(target: str, *, lazy: bool = False) -> None:
    """Unmount the top mount at ``target`` (``lazy``: detach it now, free it when unused)."""
    from boxen.runtime.linux.kernel import KERNEL

    KERNEL.umount(target, C.MNT_DETACH if lazy else 0)
