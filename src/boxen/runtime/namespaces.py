"""Namespaces: what a container sees of the system.

Each namespace kind wraps one global resource so that a process inside gets its own instance:

=========  ===============  ==========================================================
spec name  clone flag       what the container gets its own copy of
=========  ===============  ==========================================================
pid        CLONE_NEWPID     process ids (its first process is pid 1)
network    CLONE_NEWNET     interfaces, routes, firewall, ports
mount      CLONE_NEWNS      the mount table (so mounts it makes stay inside)
ipc        CLONE_NEWIPC     System V IPC and POSIX message queues
uts        CLONE_NEWUTS     hostname and NIS domain name
user       CLONE_NEWUSER    user and group ids (root inside can be nobody outside)
cgroup     CLONE_NEWCGROUP  the view of the cgroup tree (its cgroup looks like the root)
time       CLONE_NEWTIME    offsets of the monotonic and boot-time clocks
=========  ===============  ==========================================================

A namespace in ``linux.namespaces`` without a ``path`` is created (``unshare``); with a
``path`` (such as ``/proc/1234/ns/net``) the container joins it (``setns``). A kind that is not
listed is shared with the runtime.

Order matters. A user namespace owns the namespaces created after it, so it is joined or
created first; the mount namespace is joined last, since joining it changes which paths the
other ``path`` values would name (they are opened beforehand anyway). A new pid namespace
only applies to children, so the container's first process is forked after ``unshare``. The
cgroup namespace is created once the process sits in its cgroup, so that cgroup becomes the
root of its view.
"""

from __future__ import annotations

from boxen.runtime.linux import constants as C

#: Spec name -> clone flag.
FLAGS = {
    "pid": C.CLONE_NEWPID,
    "network": C.CLONE_NEWNET,
    "mount": C.CLONE_NEWNS,
    "ipc": C.CLONE_NEWIPC,
    "uts": C.CLONE_NEWUTS,
    "user": C.CLONE_NEWUSER,
    "cgroup": C.CLONE_NEWCGROUP,
    "time": C.CLONE_NEWTIME,
}

#: Spec name -> the file under /proc/<pid>/ns/ that names the namespace.
PROC_NAMES = {
    "pid": "pid",
    "network": "net",
    "mount": "mnt",
    "ipc": "ipc",
    "uts": "uts",
    "user": "user",
    "cgroup": "cgroup",
    "time": "time",
}

#: Order in which namespaces given by path are joined (user first, mount last).
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


def flags_of(kinds) -> int:
    """The clone flags for a collection of spec names."""
    flags = 0
    for kind in kinds:
        flags |= FLAGS[kind]
    return flags
