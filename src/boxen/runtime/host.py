"""Mounts on the host, for the layers above the runtime (image snapshots, builds, the engine).

A snapshotter describes a container's root filesystem as mounts, data like ``overlay`` with
``lowerdir=...,upperdir=...,workdir=...``, but never mounts anything itself (containerd's rule).
Whoever prepares a bundle mounts them on the bundle's ``rootfs`` and unmounts them when the
container is gone. This module is that step; it is the only way code outside the runtime
reaches the ``mount`` system call.

``options`` are fstab words, split as the runtime splits ``mounts[].options``: flags
(``ro``, ``nosuid``...), ``bind``/``rbind``, and the rest passed to the filesystem as data.

``mount(2)`` copies its data string into one page (4096 bytes), and an image of a few hundred
layers lists more than that in overlayfs's ``lowerdir=L1:L2:...``. Such an overlay is made with
the new mount API instead: ``fsopen("overlay")``, one ``fsconfig`` call per parameter, each
lower directory as its own ``lowerdir+`` (Linux 6.8), then ``fsmount`` and ``move_mount`` onto
the target, as containerd does. Overlayfs itself stacks at most 500 lower layers.
"""

from __future__ import annotations

from boxen.runtime.linux import constants as C
from boxen.runtime.mounter import PAGE
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
    if fstype == "overlay" and len(parsed.data.encode()) >= PAGE:
        mount_overlay_by_parameters(target, flags, parsed.data)
        return
    KERNEL.mount(source, target, fstype, flags, parsed.data or None)


#: The mount(2) flags an fsmount(2)ed mount takes as attributes.
_ATTRIBUTES = {C.MS_RDONLY: C.MOUNT_ATTR_RDONLY, C.MS_NOSUID: C.MOUNT_ATTR_NOSUID, C.MS_NODEV: C.MOUNT_ATTR_NODEV,
               C.MS_NOEXEC: C.MOUNT_ATTR_NOEXEC, C.MS_NOATIME: C.MOUNT_ATTR_NOATIME,
               C.MS_NODIRATIME: C.MOUNT_ATTR_NODIRATIME}


def mount_overlay_by_parameters(target: str, flags: int, data: str, *, kernel=None, display: str = "") -> None:
    """Mount overlayfs on ``target`` with ``data`` given parameter by parameter (see the module
    docstring); ``kernel`` is the :class:`~boxen.runtime.linux.kernel.Kernel` to call (the real
    one by default), ``display`` the path errors name (``target`` by default)."""
    from boxen.common import posixos as os
    from boxen.common.errors import InvalidArgument

    if kernel is None:
        from boxen.runtime.linux.kernel import KERNEL as kernel
    display = display or target

    attributes = 0
    for flag, attribute in _ATTRIBUTES.items():
        if flags & flag:
            attributes |= attribute
            flags &= ~flag
    if flags & ~C.MS_RELATIME:
        raise InvalidArgument(f"mount flags {flags:#x} cannot be given to an overlay this long", field="options")
    fs = kernel.fsopen("overlay")
    try:
        for word in data.split(","):
            key, has_value, value = word.partition("=")
            if not has_value:
                kernel.fsconfig(fs, C.FSCONFIG_SET_FLAG, key, None, display=display)
            elif key == "lowerdir":
                for lower in value.split(":"):
                    kernel.fsconfig(fs, C.FSCONFIG_SET_STRING, "lowerdir+", lower, display=display)
            else:
                kernel.fsconfig(fs, C.FSCONFIG_SET_STRING, key, value, display=display)
        kernel.fsconfig(fs, C.FSCONFIG_CMD_CREATE, display=display)
        mnt = kernel.fsmount(fs, attributes)
    finally:
        os.close(fs)
    try:
        at = os.open(target, os.O_PATH | os.O_CLOEXEC)
        try:
            kernel.move_mount(mnt, at, C.MOVE_MOUNT_F_EMPTY_PATH | C.MOVE_MOUNT_T_EMPTY_PATH, display=display)
        finally:
            os.close(at)
    finally:
        os.close(mnt)


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
