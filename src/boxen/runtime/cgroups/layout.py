"""Where the cgroup hierarchies are mounted, and where a container's cgroup goes in them.

A *cgroup hierarchy* is a tree of directories in a ``cgroup`` or ``cgroup2`` file system; every
process sits in exactly one cgroup of each hierarchy (``/proc/<pid>/cgroup`` says which).
Hosts come in three layouts, all found from the mount table (``/proc/self/mountinfo``):

* **v1**: one hierarchy per controller (or per group of co-mounted controllers, such as
  ``cpu,cpuacct``), each a ``cgroup`` mount at ``/sys/fs/cgroup/<name>``, plus named
  hierarchies without a controller such as ``name=systemd``.
* **v2** (unified): a single ``cgroup2`` mount at ``/sys/fs/cgroup`` holds every controller.
* **hybrid**: v1 as above, plus a ``cgroup2`` mount at ``/sys/fs/cgroup/unified`` that owns the
  controllers v1 did not take (on the project machine: ``hugetlb``). A container joins it too.

A mountinfo line reads ``36 31 0:33 /sub /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices``:
the fourth field is the cgroup the mount shows at its mount point (``/`` unless the mount was
made inside a cgroup namespace), the fifth is the mount point, and after the ``-`` come the
file system type, the source and the super-block options, which for ``cgroup`` name the
controllers. ``/proc/self/cgroup`` lines read ``4:memory:/user.slice`` (v1) or ``0::/init.scope``
(v2), giving our own cgroup per hierarchy.

``linux.cgroupsPath`` is resolved the way runc resolves it: cleaned first (``..`` cannot climb
above the start), then an absolute path is taken from the root of each hierarchy, and a
relative one from the runtime's own cgroup (v1: in each hierarchy; v2: from the *parent* of
our cgroup, so the container sits beside us rather than under a cgroup holding processes).
Without a path the container id is used as a relative path. In a hybrid layout runc puts the
cgroup2 directory at ``unified/<path>`` even for relative paths, and so does boxen.
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.common.errors import FailedPrecondition, InvalidArgument
from boxen.common.record import Record

#: v1 controllers a container is put into, in the order runc handles them (cpuset first: its
#: directories need cpus and mems before anything can join them).
V1_CONTROLLERS = ("cpuset", "devices", "memory", "cpu", "cpuacct", "pids", "blkio", "hugetlb", "net_cls",
                  "net_prio", "perf_event", "freezer", "rdma", "name=systemd")


class CgroupMount(Record):
    """One mounted hierarchy: its mount point, the cgroup shown there, and its controllers."""

    mountpoint: str
    root: str = "/"
    controllers: tuple[str, ...] = ()


class Layout(Record):
    """The hierarchies under ``root``: v1 mounts and the cgroup2 mount (at root, or root/unified)."""

    root: str
    v1: tuple[CgroupMount, ...] = ()
    unified: CgroupMount | None = None

    @property
    def version(self) -> int:
        return 2 if self.unified is not None and self.unified.mountpoint == self.root else 1

    @property
    def hybrid(self) -> bool:
        return self.version == 1 and self.unified is not None


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo octal."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        digits = field[i + 1:i + 4]
        if field[i] == "\\" and len(digits) == 3 and digits.isdigit():
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def cgroup_mounts(mountinfo: str) -> list[tuple[str, CgroupMount]]:
    """(file system type, mount) for every ``cgroup`` and ``cgroup2`` line of a mountinfo text."""
    found = []
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        fstype = fields[sep + 1] if len(fields) > sep + 1 else ""
        if fstype not in ("cgroup", "cgroup2"):
            continue
        options = fields[sep + 3].split(",") if len(fields) > sep + 3 else []
        controllers = tuple(o for o in options if o in V1_CONTROLLERS) if fstype == "cgroup" else ()
        found.append((fstype, CgroupMount(_unescape(fields[4]), _unescape(fields[3]), controllers)))
    return found


def detect(mountinfo: str, root: str = "/sys/fs/cgroup") -> Layout:
    """The layout of the hierarchies mounted under ``root`` (a later mount hides an earlier one)."""
    root = os.path.normpath(root)
    at: dict[str, tuple[str, CgroupMount]] = {}
    for fstype, mount in cgroup_mounts(mountinfo):
        if mount.mountpoint == root or os.path.dirname(mount.mountpoint) == root:
            at[mount.mountpoint] = (fstype, mount)
    top = at.get(root)
    if top is not None and top[0] == "cgroup2":
        return Layout(root, (), top[1])
    v1 = tuple(m for t, m in at.values() if t == "cgroup" and m.controllers)
    unified = at.get(os.path.join(root, "unified"))
    if not v1:
        raise FailedPrecondition(f"no cgroup hierarchy is mounted at {root} (looked in /proc/self/mountinfo)")
    return Layout(root, v1, unified[1] if unified and unified[0] == "cgroup2" else None)


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` as {controller: cgroup}; the cgroup2 line's key is ``""``."""
    own = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for name in parts[1].split(","):
                own[name] = parts[2]
    return own


def clean_path(path: str) -> str:
    """runc's CleanPath: lexically clean ``path``; a relative path cannot climb above its start."""
    if not path:
        return ""
    cleaned = os.path.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if not cleaned.startswith("/"):
        cleaned = os.path.normpath("/" + cleaned)[1:] or "."
    return cleaned


def inner_path(cgroups_path: str | None, container_id: str) -> str:
    """The cleaned cgroup path of a container: ``linux.cgroupsPath``, or its id when absent."""
    inner = clean_path(cgroups_path) if cgroups_path else clean_path(container_id)
    if inner in ("", ".", "/"):
        field = "linux.cgroupsPath" if cgroups_path else "container id"
        raise InvalidArgument(f"{cgroups_path or container_id!r} names no cgroup of its own: give a path "
                              "below the hierarchy root, such as /boxen/<id>", field=field)
    return inner


def _below(mount: CgroupMount, start: str, inner: str) -> str:
    """Directory of ``inner`` in ``mount``: absolute from its root, else under the cgroup ``start``.

    ``start`` comes from /proc/self/cgroup, which names cgroups from the hierarchy's root; the
    mount may show a subtree (``mount.root``), so the path is taken relative to that first.
    """
    if inner.startswith("/"):
        return os.path.normpath(mount.mountpoint + inner)
    return os.path.normpath(os.path.join(mount.mountpoint, os.path.relpath(start, mount.root), inner))


def v1_paths(layout: Layout, inner: str, own: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """({controller: cgroup directory}, {controller: mount point}) for a v1 or hybrid layout.

    Controllers share a directory when they share a hierarchy; in a hybrid layout the key ``""``
    is the cgroup2 directory. A controller our process is not in (relative paths) is left out,
    as runc does, except ``devices``: without it a container would reach every device.
    """
    by_controller = {c: m for m in layout.v1 for c in m.controllers}
    paths: dict[str, str] = {}
    mounts: dict[str, str] = {}
    for controller in V1_CONTROLLERS:
        mount = by_controller.get(controller)
        if mount is None:
            continue
        start = own.get(controller)
        if start is None and not inner.startswith("/"):
            continue
        paths[controller] = _below(mount, start or "/", inner)
        mounts[controller] = mount.mountpoint
    if "devices" not in paths:
        raise FailedPrecondition(f"the devices controller is not mounted under {layout.root} (or this process "
                                 "is not in it): boxen does not run containers without device rules")
    if layout.unified is not None:
        paths[""] = os.path.normpath(layout.unified.mountpoint + "/" + inner.lstrip("/"))
        mounts[""] = layout.unified.mountpoint
    return paths, mounts


def v2_path(layout: Layout, inner: str, own: dict[str, str]) -> str:
    """The container's directory in a v2 layout; relative paths start beside our own cgroup."""
    mount = layout.unified
    if mount is None:
        raise FailedPrecondition(f"no cgroup2 hierarchy is mounted at {layout.root}")
    mine = own.get("")
    if mine is None and not inner.startswith("/"):
        raise FailedPrecondition("/proc/self/cgroup has no cgroup v2 line (0::/path)")
    return _below(mount, os.path.dirname(mine or "/"), inner)
