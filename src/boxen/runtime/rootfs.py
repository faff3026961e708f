"""The container's root filesystem, as a plan of mounts (pure: nothing here touches the kernel).

A container gets its own mount namespace, a copy of the host's mount table that it may change
without the host seeing. In that copy the runtime builds the container's tree, then makes it
the root:

1. **Stop propagation.** Host mounts are often *shared* (a mount made in one namespace appears
   in the others). The runtime first turns the whole tree *slave* (``rootfsPropagation`` may
   ask for another type), so host changes still reach the container but not the reverse.
2. **Make the rootfs a mount point** by bind-mounting it onto itself; ``pivot_root`` needs one.
3. **Mount each entry of ``mounts``** below it, in order: ``proc``, a ``tmpfs`` for /dev,
   ``devpts``, bind mounts of host paths... Every destination is resolved *inside* the rootfs
   (``openat2`` with ``RESOLVE_IN_ROOT``), so a symlink in an untrusted image can never make a
   mount land on the host, and the mount is made on the opened file descriptor
   (``/proc/self/fd/N``), so a symlink swapped in afterwards changes nothing.
4. **Populate /dev** (when the config mounts a fresh /dev): device nodes (``mknod``, or bind
   mounts of the host's nodes inside a user namespace, where ``mknod`` is not allowed), and the
   usual symlinks (``/dev/fd``, ``/dev/stdin``, ``/dev/ptmx`` -> ``pts/ptmx``...).
5. **Switch root** with ``pivot_root`` (or ``MS_MOVE`` + ``chroot`` for ``--no-pivot``), then
   detach the old root so nothing of the host stays reachable. ``--no-pivot`` cannot detach
   it: the host's tree stays in the namespace, under the moved rootfs. So, first, the host's
   full ``proc`` and ``sysfs`` mounts there are detached (:func:`revealing_mounts`). The
   kernel lets a process that owns a new user and pid namespace mount a fresh procfs (or
   sysfs) only if one is already fully visible in its mount namespace (``mount_too_revealing``):
   the container's own /proc has masked paths over it, the host's had none, and a process
   in the container could otherwise get an unmasked procfs.
6. **Lock down**: ``maskedPaths`` get /dev/null or an empty read-only tmpfs on top,
   ``readonlyPaths`` a read-only bind of themselves, and a ``readonly`` root is remounted so.

Options in ``mounts[].options`` are fstab words. Some are flags of ``mount(2)`` (``ro``,
``nosuid``...), some set propagation (``rslave``...), ``bind``/``rbind`` ask for a bind mount,
``tmpcopyup`` copies the directory's content into a new tmpfs, and the rest (``mode=755``,
``size=64m``) is handed to the filesystem as its data string.
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument
from boxen.common.record import Record
from boxen.runtime.linux import constants as C

# word -> (flag, set?) : "ro" sets MS_RDONLY, "rw" clears it.
_FLAG_WORDS = {
    "async": (C.MS_SYNCHRONOUS, False),
    "atime": (C.MS_NOATIME, False),
    "bind": (C.MS_BIND, True),
    "defaults": (0, False),
    "dev": (C.MS_NODEV, False),
    "diratime": (C.MS_NODIRATIME, False),
    "dirsync": (C.MS_DIRSYNC, True),
    "exec": (C.MS_NOEXEC, False),
    "iversion": (C.MS_I_VERSION, True),
    "lazytime": (C.MS_LAZYTIME, True),
    "loud": (C.MS_SILENT, False),
    "mand": (C.MS_MANDLOCK, True),
    "noatime": (C.MS_NOATIME, True),
    "nodev": (C.MS_NODEV, True),
    "nodiratime": (C.MS_NODIRATIME, True),
    "noexec": (C.MS_NOEXEC, True),
    "noiversion": (C.MS_I_VERSION, False),
    "nolazytime": (C.MS_LAZYTIME, False),
    "nomand": (C.MS_MANDLOCK, False),
    "norelatime": (C.MS_RELATIME, False),
    "nostrictatime": (C.MS_STRICTATIME, False),
    "nosuid": (C.MS_NOSUID, True),
    "nosymfollow": (C.MS_NOSYMFOLLOW, True),
    "rbind": (C.MS_BIND | C.MS_REC, True),
    "relatime": (C.MS_RELATIME, True),
    "remount": (C.MS_REMOUNT, True),
    "ro": (C.MS_RDONLY, True),
    "rw": (C.MS_RDONLY, False),
    "silent": (C.MS_SILENT, True),
    "strictatime": (C.MS_STRICTATIME, True),
    "suid": (C.MS_NOSUID, False),
    "symfollow": (C.MS_NOSYMFOLLOW, False),
    "sync": (C.MS_SYNCHRONOUS, True),
}

PROPAGATION = {
    "private": C.MS_PRIVATE,
    "rprivate": C.MS_PRIVATE | C.MS_REC,
    "shared": C.MS_SHARED,
    "rshared": C.MS_SHARED | C.MS_REC,
    "slave": C.MS_SLAVE,
    "rslave": C.MS_SLAVE | C.MS_REC,
    "unbindable": C.MS_UNBINDABLE,
    "runbindable": C.MS_UNBINDABLE | C.MS_REC,
}

# Recursive per-mount attributes, applied with mount_setattr(2) and AT_RECURSIVE to the mount and
# every mount below it: word -> (MOUNT_ATTR_* bit, clear it?).
_RECURSIVE_WORDS = {
    "rro": (C.MOUNT_ATTR_RDONLY, False),
    "rrw": (C.MOUNT_ATTR_RDONLY, True),
    "rnosuid": (C.MOUNT_ATTR_NOSUID, False),
    "rsuid": (C.MOUNT_ATTR_NOSUID, True),
    "rnodev": (C.MOUNT_ATTR_NODEV, False),
    "rdev": (C.MOUNT_ATTR_NODEV, True),
    "rnoexec": (C.MOUNT_ATTR_NOEXEC, False),
    "rexec": (C.MOUNT_ATTR_NOEXEC, True),
    "rnodiratime": (C.MOUNT_ATTR_NODIRATIME, False),
    "rdiratime": (C.MOUNT_ATTR_NODIRATIME, True),
    "rrelatime": (C.MOUNT_ATTR_RELATIME, False),
    "rnorelatime": (C.MOUNT_ATTR_RELATIME, True),
    "rnoatime": (C.MOUNT_ATTR_NOATIME, False),
    "ratime": (C.MOUNT_ATTR_NOATIME, True),
    "rstrictatime": (C.MOUNT_ATTR_STRICTATIME, False),
    "rnostrictatime": (C.MOUNT_ATTR_STRICTATIME, True),
    "rnosymfollow": (C.MOUNT_ATTR_NOSYMFOLLOW, False),
    "rsymfollow": (C.MOUNT_ATTR_NOSYMFOLLOW, True),
}
_ATIME_BITS = C.MOUNT_ATTR_RELATIME | C.MOUNT_ATTR_NOATIME | C.MOUNT_ATTR_STRICTATIME

#: Flags that bind mounts only honour on a second, remounting call.
_BIND_REMOUNT_FLAGS = (
    C.MS_RDONLY | C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC | C.MS_NOATIME | C.MS_NODIRATIME | C.MS_RELATIME
    | C.MS_STRICTATIME | C.MS_NOSYMFOLLOW
)


class MountOptions(Record):
    """``mounts[].options`` sorted into what each system call needs."""

    flags: int = 0
    propagation: tuple[int, ...] = ()
    data: str = ""
    copyup: bool = False
    attr_set: int = 0
    attr_clear: int = 0
    idmap: str | None = None  # "idmap" or "ridmap" (recursive)


def parse_options(options: tuple[str, ...] | None, field: str) -> MountOptions:
    flags = 0
    propagation: list[int] = []
    data: list[str] = []
    copyup = False
    attr_set = attr_clear = 0
    idmap = None
    for i, word in enumerate(options or ()):
        known = _FLAG_WORDS.get(word)
        if known is not None:
            flag, set_it = known
            flags = flags | flag if set_it else flags & ~flag
        elif word in PROPAGATION:
            propagation.append(PROPAGATION[word])
        elif word == "tmpcopyup":
            copyup = True
        elif word in _RECURSIVE_WORDS:
            bit, clear = _RECURSIVE_WORDS[word]
            if bit & _ATIME_BITS or bit == C.MOUNT_ATTR_RELATIME:
                attr_clear |= C.MOUNT_ATTR__ATIME  # the access-time mode is one field: replace it
            if clear:
                attr_clear |= bit
                attr_set &= ~bit
            else:
                attr_set |= bit
        elif word in ("idmap", "ridmap"):
            idmap = word
        else:
            data.append(word)
    return MountOptions(flags=flags, propagation=tuple(propagation), data=",".join(data), copyup=copyup,
                        attr_set=attr_set, attr_clear=attr_clear, idmap=idmap)


class MountOp(Record):
    """One entry of ``mounts``, decided: how to make it and where.

    ``kind`` is ``"bind"`` (bind ``source`` there, then remount with ``remount_flags``), or
    ``"fs"`` (mount a new ``fstype`` filesystem), or ``"cgroup"`` (expanded by the executor into
    the cgroup hierarchies the container belongs to). ``target_type`` says what to create at the
    destination if it is missing: ``"dir"`` or ``"file"``.
    """

    destination: str
    kind: str
    source: str | None
    fstype: str | None
    flags: int
    data: str
    remount_flags: int
    propagation: tuple[int, ...]
    target_type: str
    copyup: bool = False
    no_symlink: bool = False
    attr_set: int = 0
    attr_clear: int = 0
    idmap: tuple | None = None  # (recursive, uid maps, gid maps); maps None: the container's own


def clean_destination(destination: str) -> str:
    """``destination`` as an absolute, normalised container path (relative ones are taken from /)."""
    parts: list[str] = []
    for part in destination.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def plan_mount(m, index: int, bundle: str, source_is_dir) -> MountOp:
    """Decide one ``mounts[index]`` entry. ``source_is_dir(path)`` tells what a bind source is."""
    field = f"mounts[{index}]"
    options = parse_options(m.options, f"{field}.options")
    destination = clean_destination(m.destination)
    fstype = m.type or ""
    is_bind = bool(options.flags & C.MS_BIND) or fstype == "bind"
    if is_bind:
        source = m.source or ""
        if not source:
            raise InvalidArgument("a bind mount needs a source", field=f"{field}.source")
        if not source.startswith("/"):
            source = f"{bundle}/{source}"
        is_dir = source_is_dir(source)
        if is_dir is None:
            raise InvalidArgument(f"bind mount source {source} does not exist", field=f"{field}.source")
        rec = options.flags & C.MS_REC
        idmap = None
        if options.idmap or m.uidMappings or m.gidMappings:
            if bool(m.uidMappings) != bool(m.gidMappings):
                raise InvalidArgument("an idmapped mount needs both uidMappings and gidMappings", field=field)
            maps = None
            if m.uidMappings:
                maps = (tuple((x.containerID, x.hostID, x.size) for x in m.uidMappings),
                        tuple((x.containerID, x.hostID, x.size) for x in m.gidMappings))
            recursive = options.idmap == "ridmap" or bool(rec)
            idmap = (recursive,) + (maps if maps else (None, None))
        return MountOp(
            destination=destination, kind="bind", source=source, fstype=None, flags=C.MS_BIND | rec, data="",
            remount_flags=options.flags & _BIND_REMOUNT_FLAGS, propagation=options.propagation,
            target_type="dir" if is_dir else "file", attr_set=options.attr_set, attr_clear=options.attr_clear,
            idmap=idmap,
        )
    if options.idmap or m.uidMappings or m.gidMappings:
        raise InvalidArgument("only bind mounts can be idmapped", field=field)
    if not fstype or fstype == "none":
        raise InvalidArgument("a mount needs a type (or the bind/rbind option)", field=f"{field}.type")
    if fstype == "cgroup" or fstype == "cgroup2":
        kind = "cgroup"
    else:
        kind = "fs"
    return MountOp(
        destination=destination, kind=kind, source=m.source or fstype, fstype=fstype,
        flags=options.flags & ~C.MS_BIND, data=options.data, remount_flags=0, propagation=options.propagation,
        target_type="dir", copyup=options.copyup and fstype == "tmpfs",
        no_symlink=fstype in ("proc", "sysfs"), attr_set=options.attr_set, attr_clear=options.attr_clear,
    )


class DeviceNode(Record):
    """A device node to make in the container's /dev: ``type`` c, b, u (unbuffered char) or p (fifo)."""

    path: str
    type: str
    major: int
    minor: int
    mode: int
    uid: int
    gid: int


#: The devices every container gets (the same as runc's), mode 0666, owned by root.
DEFAULT_DEVICES = (
    DeviceNode("/dev/null", "c", 1, 3, 0o666, 0, 0),
    DeviceNode("/dev/zero", "c", 1, 5, 0o666, 0, 0),
    DeviceNode("/dev/full", "c", 1, 7, 0o666, 0, 0),
    DeviceNode("/dev/tty", "c", 5, 0, 0o666, 0, 0),
    DeviceNode("/dev/urandom", "c", 1, 9, 0o666, 0, 0),
    DeviceNode("/dev/random", "c", 1, 8, 0o666, 0, 0),
)

#: Symlinks made in a fresh /dev: (link, target).
DEV_SYMLINKS = (
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/ptmx", "pts/ptmx"),
)

_DEVICE_TYPES = {"c": 0o020000, "u": 0o020000, "b": 0o060000, "p": 0o010000}


def device_type_bits(kind: str) -> int:
    """The S_IF* bits of a spec device type."""
    return _DEVICE_TYPES[kind]


def plan_devices(devices, field: str = "linux.devices") -> tuple[DeviceNode, ...]:
    """The default devices, then ``linux.devices`` (a configured path replaces a default one)."""
    configured = []
    for i, d in enumerate(devices or ()):
        where = f"{field}[{i}]"
        if d.type not in _DEVICE_TYPES:
            raise InvalidArgument(f"unknown device type {d.type!r} (expected c, b, u or p)", field=f"{where}.type")
        if d.type != "p" and (d.major is None or d.minor is None):
            raise InvalidArgument("major and minor are required for c, b and u devices", field=where)
        path = clean_destination(d.path)
        if not path.startswith("/dev/"):
            raise InvalidArgument(f"device path {d.path!r} must be under /dev", field=f"{where}.path")
        mode = d.fileMode if d.fileMode is not None else 0o666
        configured.append(DeviceNode(path, d.type, d.major or 0, d.minor or 0, mode & 0o7777,
                                     d.uid or 0, d.gid or 0))
    paths = {d.path for d in configured}
    return tuple(d for d in DEFAULT_DEVICES if d.path not in paths) + tuple(configured)


class RootfsPlan(Record):
    """Everything about the container's filesystem tree, in execution order."""

    rootfs: str
    readonly: bool
    propagation: int
    root_propagation: int | None
    mounts: tuple[MountOp, ...]
    setup_dev: bool
    devices: tuple[DeviceNode, ...]
    masked_paths: tuple[str, ...]
    readonly_paths: tuple[str, ...]
    no_pivot: bool


def plan_rootfs(spec, bundle: str, rootfs: str, *, no_pivot: bool, source_is_dir) -> RootfsPlan:
    """Decide the whole filesystem set-up of ``spec`` (rootfs already resolved to an absolute path)."""
    linux = spec.linux
    mounts = tuple(plan_mount(m, i, bundle, source_is_dir) for i, m in enumerate(spec.mounts or ()))
    propagation = C.MS_SLAVE | C.MS_REC
    root_propagation = None
    if linux is not None and linux.rootfsPropagation:
        value = PROPAGATION.get(linux.rootfsPropagation)
        if value is None:
            raise InvalidArgument(
                f"unknown propagation {linux.rootfsPropagation!r} (expected one of {', '.join(PROPAGATION)})",
                field="linux.rootfsPropagation",
            )
        # An unbindable tree could not even bind the rootfs onto itself: the tree is made a
        # slave, and only the container's root mount becomes unbindable at the end.
        propagation = (C.MS_SLAVE if value & C.MS_UNBINDABLE else value) | C.MS_REC
        root_propagation = value & ~C.MS_REC
    # A fresh /dev is populated unless the host's /dev (or part of it) is bind-mounted there.
    setup_dev = not any(m.destination == "/dev" and m.kind == "bind" for m in mounts)
    return RootfsPlan(
        rootfs=rootfs,
        readonly=bool(spec.root and spec.root.readonly),
        propagation=propagation,
        root_propagation=root_propagation,
        mounts=mounts,
        setup_dev=setup_dev,
        devices=plan_devices(linux.devices if linux else None) if setup_dev else (),
        masked_paths=tuple(linux.maskedPaths or ()) if linux else (),
        readonly_paths=tuple(linux.readonlyPaths or ()) if linux else (),
        no_pivot=no_pivot,
    )


def revealing_mounts(mountinfo: bytes, rootfs: str) -> list[str]:
    """The mount points of whole ``proc`` and ``sysfs`` file systems outside ``rootfs``, from a
    ``/proc/self/mountinfo`` text (``36 25 0:5 / /proc rw,nosuid - proc proc rw``: the fourth
    field is the mounted directory of the file system, ``/`` for a whole one; the fifth is the
    mount point, with space, tab, newline and backslash escaped as ``\\ooo``)."""
    inside = rootfs.rstrip("/") + "/"
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        try:
            fstype = fields[fields.index(b"-", 6) + 1]
        except (ValueError, IndexError):
            continue
        if fstype not in (b"proc", b"sysfs") or fields[3] != b"/":
            continue
        point = _unescape(fields[4])
        if point != rootfs and not point.startswith(inside):
            points.append(point)
    return points


def _unescape(field: bytes) -> str:
    head, *rest = field.split(b"\\")
    for part in rest:
        head += bytes((int(part[:3], 8),)) + part[3:]
    return head.decode(errors="surrogateescape")
