"""Observe a container from inside (with busybox only) and from outside (through ``/proc``).

A runtime's job is to put a process into a particular state: credentials, capability sets,
``no_new_privs``, a seccomp mode, a mount table, a hostname, resource limits, cgroups and
namespaces. All of it is visible in ``/proc``:

* ``/proc/<pid>/status`` has the five capability sets as hexadecimal masks (``CapInh``,
  ``CapPrm``, ``CapEff``, ``CapBnd``, ``CapAmb``; bit *n* is capability number *n*), the
  ``NoNewPrivs`` flag, the ``Seccomp`` mode (0 none, 1 strict, 2 filter), and the real,
  effective, saved and filesystem ``Uid``/``Gid`` plus supplementary ``Groups``;
* ``/proc/<pid>/mountinfo`` has one line per mount in the process's mount namespace: ids, the
  mount point, per-mount options (``ro``, ``nosuid``...), optional fields that give the
  propagation (``shared:N``, ``master:N``, ``unbindable``; none means private), the filesystem
  type, the source and the superblock options;
* ``/proc/<pid>/cgroup`` has ``hierarchy-id:controllers:path`` per hierarchy;
* ``/proc/<pid>/limits`` has each rlimit's soft and hard value; ``/proc/<pid>/environ`` the
  environment the process was started with; ``/proc/<pid>/ns/*`` one link per namespace whose
  target (``net:[4026531992]``) is equal for processes in the same namespace.

Inside the container :data:`PROBE_SCRIPT` prints these for the shell itself (``$$``), so what is
measured is the container's process as the runtime made it, not a child that ``execve`` changed
(an ``execve`` by uid 0 recomputes the capability sets). Each section starts with a line
``@@<name>``; :func:`parse_report` turns the output into a :class:`Report`. From outside,
:func:`namespaces`, :func:`cgroup_paths` and :func:`cgroup_file` read the same facts for a pid
on the host.
"""

from __future__ import annotations

import os
import pathlib

from boxen.common.record import Record

#: Capability names by number (linux/capability.h).
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

#: ``/proc/<pid>/limits`` row names -> the spec's rlimit types.
LIMIT_NAMES = {
    "Max cpu time": "RLIMIT_CPU", "Max file size": "RLIMIT_FSIZE", "Max data size": "RLIMIT_DATA",
    "Max stack size": "RLIMIT_STACK", "Max core file size": "RLIMIT_CORE",
    "Max resident set": "RLIMIT_RSS", "Max processes": "RLIMIT_NPROC",
    "Max open files": "RLIMIT_NOFILE", "Max locked memory": "RLIMIT_MEMLOCK",
    "Max address space": "RLIMIT_AS", "Max file locks": "RLIMIT_LOCKS",
    "Max pending signals": "RLIMIT_SIGPENDING", "Max msgqueue size": "RLIMIT_MSGQUEUE",
    "Max nice priority": "RLIMIT_NICE", "Max realtime priority": "RLIMIT_RTPRIO",
    "Max realtime timeout": "RLIMIT_RTTIME",
}

NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")

#: A busybox shell script that prints every section :func:`parse_report` understands.
PROBE_SCRIPT = """\
s() { echo "@@$1"; }
s status; cat /proc/$$/status
s mountinfo; cat /proc/$$/mountinfo
s cgroup; cat /proc/$$/cgroup
s limits; cat /proc/$$/limits
s environ; tr '\\0' '\\n' < /proc/$$/environ
s oom_score_adj; cat /proc/$$/oom_score_adj
s hostname; hostname
s domainname; cat /proc/sys/kernel/domainname
s id; id
s pwd; pwd
s umask; umask
s dev; ls -ln /dev
s end
"""


def caps_from_mask(mask: int) -> frozenset[str]:
    """Capability names for the bits set in ``mask`` (unknown bits as ``CAP_<n>``)."""
    names = set()
    for bit in range(64):
        if mask >> bit & 1:
            names.add(CAPABILITIES[bit] if bit < len(CAPABILITIES) else f"CAP_{bit}")
    return frozenset(names)


class ProcStatus(Record):
    """The parts of ``/proc/<pid>/status`` a runtime sets."""

    caps: dict  # "effective", "permitted", "bounding", "inheritable", "ambient" -> frozenset
    no_new_privs: int
    seccomp: int
    uid: tuple  # real, effective, saved, filesystem
    gid: tuple
    groups: tuple


_CAP_FIELDS = {"CapInh": "inheritable", "CapPrm": "permitted", "CapEff": "effective",
               "CapBnd": "bounding", "CapAmb": "ambient"}


def parse_status(text: str) -> ProcStatus:
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    caps = {name: caps_from_mask(int(fields[key], 16)) for key, name in _CAP_FIELDS.items()
            if key in fields}
    return ProcStatus(
        caps=caps,
        no_new_privs=int(fields.get("NoNewPrivs", 0)),
        seccomp=int(fields.get("Seccomp", 0)),
        uid=tuple(int(v) for v in fields.get("Uid", "").split()),
        gid=tuple(int(v) for v in fields.get("Gid", "").split()),
        groups=tuple(sorted(int(v) for v in fields.get("Groups", "").split())),
    )


class MountInfo(Record):
    """One ``mountinfo`` line (proc(5))."""

    mount_id: int
    parent_id: int
    device: str
    root: str
    mount_point: str
    options: frozenset
    optional: tuple
    fstype: str
    source: str
    super_options: frozenset

    @property
    def propagation(self) -> str:
        """``shared``, ``slave``, ``unbindable`` or ``private`` (from the optional fields)."""
        tags = {field.split(":")[0] for field in self.optional}
        if "shared" in tags:
            return "shared"
        if "master" in tags:
            return "slave"
        if "unbindable" in tags:
            return "unbindable"
        return "private"


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n") \
        .replace("\\134", "\\")


def parse_mountinfo(text: str) -> list[MountInfo]:
    mounts = []
    for line in text.splitlines():
        if not line.strip():
            continue
        left, _, right = line.partition(" - ")
        parts = left.split()
        fstype, source, super_options = (right.split() + ["", ""])[:3]
        mounts.append(MountInfo(
            int(parts[0]), int(parts[1]), parts[2], _unescape(parts[3]), _unescape(parts[4]),
            frozenset(parts[5].split(",")), tuple(parts[6:]), fstype, _unescape(source),
            frozenset(super_options.split(",")),
        ))
    return mounts


def mount_at(mounts: list[MountInfo], mount_point: str) -> MountInfo | None:
    """The mount visible at ``mount_point`` (the last one mounted there), or None."""
    found = None
    for m in mounts:
        if m.mount_point == mount_point:
            found = m
    return found


def parse_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` as controller -> path (``""`` for the cgroup2 hierarchy)."""
    paths = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def parse_limits(text: str) -> dict[str, tuple[str, str]]:
    """``/proc/<pid>/limits`` as rlimit type -> (soft, hard), values as printed (``unlimited``)."""
    limits = {}
    for line in text.splitlines()[1:]:
        for label, rtype in LIMIT_NAMES.items():
            if line.startswith(label + " "):
                soft, hard = line[len(label):].split()[:2]
                limits[rtype] = (soft, hard)
    return limits


class Identity(Record):
    """``id`` output: numeric ids (names looked up in the rootfs's /etc files)."""

    uid: int
    gid: int
    groups: tuple


def parse_id(text: str) -> Identity:
    values = {}
    for part in text.split():
        key, _, value = part.partition("=")
        values[key] = value
    def number(v: str) -> int:
        return int(v.split("(")[0])
    groups = tuple(sorted(number(g) for g in values["groups"].split(","))) if "groups" in values else ()
    return Identity(number(values["uid"]), number(values["gid"]), groups)


class DeviceEntry(Record):
    """One ``ls -ln /dev`` line."""

    kind: str  # c, b, d, l, -, p, s
    mode: str
    uid: int
    gid: int
    major: int | None = None
    minor: int | None = None
    target: str | None = None


def parse_ls_dev(text: str) -> dict[str, DeviceEntry]:
    entries = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 6 or parts[0] == "total":
            continue
        mode = parts[0]
        uid, gid = int(parts[2]), int(parts[3])
        if mode[0] in "cb":
            major, minor = int(parts[4].rstrip(",")), int(parts[5])
            name = parts[9] if len(parts) > 9 else parts[-1]
            entries[name] = DeviceEntry(mode[0], mode, uid, gid, major, minor)
        elif mode[0] == "l":
            arrow = parts.index("->")
            entries[parts[arrow - 1]] = DeviceEntry("l", mode, uid, gid, target=parts[arrow + 1])
        else:
            entries[parts[-1]] = DeviceEntry(mode[0], mode, uid, gid)
    return entries


class Report(Record):
    """Everything :data:`PROBE_SCRIPT` prints, parsed."""

    status: ProcStatus
    mounts: tuple
    cgroups: dict
    limits: dict
    env: dict
    oom_score_adj: int
    hostname: str
    domainname: str
    identity: Identity
    cwd: str
    umask: int
    devices: dict

    def mount(self, mount_point: str) -> MountInfo | None:
        return mount_at(list(self.mounts), mount_point)


def split_sections(text: str) -> dict[str, str]:
    """Split probe output into ``{section: text}`` at the ``@@name`` lines."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@@"):
            current = line[2:].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


def parse_report(text: str) -> Report:
    s = split_sections(text)
    if "end" not in s:
        raise AssertionError(f"the probe did not finish; its output was:\n{text}")
    env = dict(line.split("=", 1) for line in s["environ"].splitlines() if "=" in line)
    return Report(
        status=parse_status(s["status"]),
        mounts=tuple(parse_mountinfo(s["mountinfo"])),
        cgroups=parse_cgroup(s["cgroup"]),
        limits=parse_limits(s["limits"]),
        env=env,
        oom_score_adj=int(s["oom_score_adj"].strip()),
        hostname=s["hostname"].strip(),
        domainname=s["domainname"].strip(),
        identity=parse_id(s["id"]),
        cwd=s["pwd"].strip(),
        umask=int(s["umask"].strip(), 8),
        devices=parse_ls_dev(s["dev"]),
    )


# --- from outside ---------------------------------------------------------------------------------


def namespaces(pid: int | str) -> dict[str, str]:
    """``/proc/<pid>/ns/*`` link targets by namespace name (``net`` -> ``net:[4026531992]``)."""
    found = {}
    for name in NAMESPACES:
        try:
            found[name] = os.readlink(f"/proc/{pid}/ns/{name}")
        except FileNotFoundError:
            continue
    return found


def cgroup_paths(pid: int | str) -> dict[str, str]:
    """The host's view of ``pid``'s cgroups: controller -> path."""
    return parse_cgroup(pathlib.Path(f"/proc/{pid}/cgroup").read_text())


def cgroup_mounts() -> dict[str, pathlib.Path]:
    """Where each cgroup v1 controller's hierarchy is mounted on the host (``""``: cgroup2)."""
    mounts: dict[str, pathlib.Path] = {}
    for m in parse_mountinfo(pathlib.Path("/proc/self/mountinfo").read_text()):
        if m.fstype == "cgroup2":
            mounts.setdefault("", pathlib.Path(m.mount_point))
        elif m.fstype == "cgroup":
            for option in m.super_options:
                if option not in ("rw", "ro") and not option.startswith(("release_agent", "clone_")):
                    mounts.setdefault(option, pathlib.Path(m.mount_point))
    return mounts


def cgroup_dir(pid: int | str, controller: str) -> pathlib.Path:
    """The host directory of ``pid``'s cgroup in ``controller``'s hierarchy."""
    return cgroup_mounts()[controller] / cgroup_paths(pid)[controller].lstrip("/")


def cgroup_file(pid: int | str, controller: str, name: str) -> str:
    """The stripped content of a cgroup file (``memory.limit_in_bytes``) of ``pid``'s cgroup."""
    return (cgroup_dir(pid, controller) / name).read_text().strip()


def alive(pid: int | str) -> bool:
    """Whether ``pid`` exists and is not a zombie (a dead child its parent has not reaped yet)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
