"""The rules of the runtime spec that JSON types cannot express, as small named checks.

``boxen.oci.runtime`` already refused wrong JSON types. What is left are rules between values:
a path that must be absolute, a namespace listed twice, a hostname without its own UTS
namespace, a sysctl that would change the host. Each check below is one such rule; it raises
:class:`~boxen.common.errors.InvalidArgument` (or :class:`Unimplemented` for what this host
cannot do) naming the JSON path. They all run before anything is created, so a bad
``config.json`` leaves no trace.
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.common.errors import InvalidArgument, Unimplemented
from boxen.runtime import namespaces

#: setrlimit(2) resources by spec name.
RLIMITS = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}

_IPC_SYSCTLS = frozenset(
    ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]
)


def _namespace_kinds(spec) -> dict[str, str | None]:
    linux = spec.linux
    return {ns.type: ns.path for ns in (linux.namespaces or ())} if linux else {}


def check_version(spec, ctx) -> None:
    major = spec.ociVersion.split(".", 1)[0]
    if major != "1":
        raise InvalidArgument(f"unsupported version {spec.ociVersion!r} (expected 1.x)", field="ociVersion")


def check_root(spec, ctx) -> None:
    if spec.root is None:
        raise InvalidArgument("is required on Linux", field="root")
    path = spec.root.path
    if not path:
        raise InvalidArgument("must not be empty", field="root.path")
    full = path if path.startswith("/") else os.path.join(ctx.bundle, path)
    if not os.path.isdir(full):
        raise InvalidArgument(f"{full} is not a directory", field="root.path")


def check_process(spec, ctx) -> None:
    p = spec.process
    if p is None:
        if ctx.needs_process:
            raise InvalidArgument("is required to create a container", field="process")
        return
    if not p.args:
        raise InvalidArgument("must hold at least the program to run", field="process.args")
    if not p.cwd.startswith("/"):
        raise InvalidArgument(f"{p.cwd!r} is not an absolute path", field="process.cwd")
    for i, entry in enumerate(p.env or ()):
        if "=" not in entry or entry.startswith("="):
            raise InvalidArgument(f"{entry!r} is not of the form KEY=value", field=f"process.env[{i}]")
    seen = set()
    for i, r in enumerate(p.rlimits or ()):
        if r.type not in RLIMITS:
            raise InvalidArgument(f"unknown rlimit {r.type!r} (expected RLIMIT_NOFILE, RLIMIT_NPROC, ...)",
                                  field=f"process.rlimits[{i}].type")
        if r.type in seen:
            raise InvalidArgument(f"{r.type} is given twice", field=f"process.rlimits[{i}].type")
        seen.add(r.type)
        if r.soft > r.hard:
            raise InvalidArgument(f"soft limit {r.soft} is above hard limit {r.hard}", field=f"process.rlimits[{i}]")
    if p.oomScoreAdj is not None and not -1000 <= p.oomScoreAdj <= 1000:
        raise InvalidArgument(f"{p.oomScoreAdj} is outside -1000..1000", field="process.oomScoreAdj")
    if p.user is not None and p.user.umask is not None and p.user.umask > 0o7777:
        raise InvalidArgument(f"{p.user.umask:#o} is not a file mode mask", field="process.user.umask")
    if p.apparmorProfile and not os.path.exists("/sys/kernel/security/apparmor"):
        raise Unimplemented("this host has no AppArmor (no /sys/kernel/security/apparmor)",
                            field="process.apparmorProfile")
    if p.selinuxLabel and not os.path.exists("/sys/fs/selinux/enforce"):
        raise Unimplemented("this host has no SELinux (no /sys/fs/selinux)", field="process.selinuxLabel")


def check_namespaces(spec, ctx) -> None:
    linux = spec.linux
    seen: set[str] = set()
    for i, ns in enumerate((linux.namespaces or ()) if linux else ()):
        field = f"linux.namespaces[{i}]"
        if ns.type not in namespaces.FLAGS:
            raise InvalidArgument(f"unknown namespace type {ns.type!r} (expected one of {', '.join(namespaces.FLAGS)})",
                                  field=f"{field}.type")
        if ns.type in seen:
            raise InvalidArgument(f"namespace {ns.type!r} is listed twice", field=f"{field}.type")
        seen.add(ns.type)
        if ns.path is not None and not ns.path.startswith("/"):
            raise InvalidArgument(f"{ns.path!r} is not an absolute path", field=f"{field}.path")
    kinds = _namespace_kinds(spec)
    has_maps = bool(linux and (linux.uidMappings or linux.gidMappings))
    if "user" in kinds and kinds["user"] is None:
        if not (linux.uidMappings and linux.gidMappings):
            raise InvalidArgument("a new user namespace needs uidMappings and gidMappings", field="linux.uidMappings")
    elif has_maps:
        raise InvalidArgument("uid/gid mappings need a new user namespace in linux.namespaces",
                              field="linux.uidMappings")
    if linux and linux.timeOffsets:
        if kinds.get("time", "joined") is not None:
            raise InvalidArgument("time offsets need a new time namespace in linux.namespaces",
                                  field="linux.timeOffsets")
        for clock in linux.timeOffsets:
            if clock not in ("monotonic", "boottime"):
                raise InvalidArgument(f"unknown clock {clock!r} (expected monotonic or boottime)",
                                      field=f"linux.timeOffsets[{clock!r}]")


def check_uts(spec, ctx) -> None:
    kinds = _namespace_kinds(spec)
    for name in ("hostname", "domainname"):
        if getattr(spec, name) and "uts" not in kinds:
            raise InvalidArgument(f"setting the {name} needs a uts namespace in linux.namespaces", field=name)


def check_sysctl(spec, ctx) -> None:
    linux = spec.linux
    if not linux or not linux.sysctl:
        return
    kinds = _namespace_kinds(spec)
    for key in linux.sysctl:
        field = f"linux.sysctl[{key!r}]"
        if not key or "/" in key or ".." in key.split("."):
            raise InvalidArgument(f"{key!r} is not a sysctl name", field=field)
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            needed = "ipc"
        elif key.startswith("net."):
            needed = "network"
        elif key in ("kernel.hostname", "kernel.domainname"):
            needed = "uts"
        else:
            raise InvalidArgument(f"{key} is not namespaced: it would change the host", field=field)
        if needed not in kinds:
            raise InvalidArgument(f"{key} needs a {needed} namespace in linux.namespaces", field=field)


def check_paths(spec, ctx) -> None:
    linux = spec.linux
    for name in ("maskedPaths", "readonlyPaths"):
        for i, path in enumerate(getattr(linux, name) or () if linux else ()):
            if not path.startswith("/"):
                raise InvalidArgument(f"{path!r} is not an absolute path", field=f"linux.{name}[{i}]")
    for i, d in enumerate((linux.devices or ()) if linux else ()):
        if not d.path.startswith("/"):
            raise InvalidArgument(f"{d.path!r} is not an absolute path", field=f"linux.devices[{i}].path")
    for i, m in enumerate(spec.mounts or ()):
        if not m.destination:
            raise InvalidArgument("must not be empty", field=f"mounts[{i}].destination")


def check_hooks(spec, ctx) -> None:
    hooks = spec.hooks
    if hooks is None:
        return
    for kind in hooks.__fields__:
        for i, hook in enumerate(getattr(hooks, kind) or ()):
            field = f"hooks.{kind}[{i}]"
            if not hook.path.startswith("/"):
                raise InvalidArgument(f"{hook.path!r} is not an absolute path", field=f"{field}.path")
            if hook.timeout is not None and hook.timeout <= 0:
                raise InvalidArgument(f"{hook.timeout} is not a positive number of seconds", field=f"{field}.timeout")


def check_linux_extras(spec, ctx) -> None:
    linux = spec.linux
    if linux is None:
        return
    if linux.intelRdt is not None and not os.path.isdir("/sys/fs/resctrl/info"):
        raise Unimplemented("this host has no Intel RDT (resctrl is not mounted)", field="linux.intelRdt")
    if linux.personality is not None and linux.personality.domain not in ("LINUX", "LINUX32"):
        raise InvalidArgument(f"unknown domain {linux.personality.domain!r} (expected LINUX or LINUX32)",
                              field="linux.personality.domain")
    if linux.mountLabel and not os.path.exists("/sys/fs/selinux/enforce"):
        raise Unimplemented("this host has no SELinux (no /sys/fs/selinux)", field="linux.mountLabel")


CHECKS = (
    check_version,
    check_root,
    check_process,
    check_namespaces,
    check_uts,
    check_sysctl,
    check_paths,
    check_hooks,
    check_linux_extras,
)


class Context:
    """What the checks need besides the spec."""

    __slots__ = ("bundle", "needs_process")

    def __init__(self, bundle: str, needs_process: bool = True) -> None:
        self.bundle = bundle
        self.needs_process = needs_process


def validate(spec, bundle: str, *, needs_process: bool = True) -> None:
    """Run every check; the first broken rule raises."""
    ctx = Context(bundle, needs_process)
    for check in CHECKS:
        check(spec, ctx)
