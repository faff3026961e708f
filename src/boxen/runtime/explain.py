"""``--explain``: the plan of a container, in words a learner can follow.

Everything here is read from the decided plan (``boxen.runtime.plan``), the cgroup writes the
cgroup manager would make, and the seccomp summary, so what is printed is what will be done.
Nothing is created. Output goes to stderr, so ``run --explain`` keeps the container's stdout
clean.
"""

from __future__ import annotations

import sys

from boxen.runtime import capabilities
from boxen.runtime.linux import constants as C
from boxen.runtime.namespaces import FLAGS

_NS_WORDS = {
    "pid": "its own process ids; its first process is pid 1",
    "network": "its own network stack: no interfaces but loopback until someone adds one",
    "mount": "its own mount table, so its mounts stay inside",
    "ipc": "its own System V IPC objects and POSIX message queues",
    "uts": "its own hostname and domain name",
    "user": "its own user and group ids, mapped onto host ids",
    "cgroup": "its own view of the cgroup tree, rooted at its cgroup",
    "time": "its own offsets for the monotonic and boot-time clocks",
}

_MS_WORDS = [
    (C.MS_RDONLY, "ro"), (C.MS_NOSUID, "nosuid"), (C.MS_NODEV, "nodev"), (C.MS_NOEXEC, "noexec"),
    (C.MS_REC, "recursive"), (C.MS_NOATIME, "noatime"), (C.MS_RELATIME, "relatime"),
    (C.MS_STRICTATIME, "strictatime"), (C.MS_SLAVE, "slave"), (C.MS_SHARED, "shared"),
    (C.MS_PRIVATE, "private"), (C.MS_UNBINDABLE, "unbindable"),
]


def _flag_words(flags: int) -> str:
    words = [w for bit, w in _MS_WORDS if flags & bit]
    return ",".join(words) if words else "defaults"


def lines(runtime, container_id: str, bundle: str, opts: dict) -> list[str]:
    spec, plan = runtime.plan(container_id, bundle, no_pivot=opts.get("no_pivot", False),
                              no_new_keyring=opts.get("no_new_keyring", False))
    out = [f"container {container_id!r} from bundle {plan.bundle}", ""]
    out.append("1. Namespaces (what the container gets its own copy of):")
    for kind in FLAGS:
        if kind in plan.new_kinds:
            out.append(f"   - new {kind} namespace: {_NS_WORDS[kind]}")
    for kind, path in plan.joined:
        out.append(f"   - join the {kind} namespace at {path}")
    shared = [k for k in FLAGS if k not in plan.new_kinds and k not in dict(plan.joined)]
    if shared:
        out.append(f"   - shared with the host: {', '.join(shared)}")
    for m in plan.uid_mappings:
        out.append(f"   - uids {m.container_id}..{m.container_id + m.size - 1} inside are "
                   f"{m.host_id}..{m.host_id + m.size - 1} on the host")
    for m in plan.gid_mappings:
        out.append(f"   - gids {m.container_id}..{m.container_id + m.size - 1} inside are "
                   f"{m.host_id}..{m.host_id + m.size - 1} on the host")

    out.append("")
    out.append("2. Cgroup (what the container may use):")
    try:
        manager = runtime.cgroup_manager(plan)
        out.extend(f"   - {line}" for line in manager.describe())
        writes = manager.plan(spec.linux.resources, tuple(spec.linux.devices or ()))
        for w in writes:
            out.append(f"   - write {w.value!r} to {w.path}: {w.what}")
        if not writes:
            out.append("   - no limits: the cgroup only groups the processes")
    except Exception as exc:  # noqa: BLE001 (explaining must not fail on a host quirk)
        out.append(f"   - (cannot plan the cgroup on this host: {exc})")

    rootfs = plan.rootfs
    out.append("")
    out.append(f"3. Root filesystem {rootfs.rootfs}:")
    if "mount" not in plan.new_kinds and "mount" not in dict(plan.joined):
        out.append("   - no mount namespace: nothing is mounted (it would change the host); chroot into the rootfs")
        rootfs = rootfs.replace(mounts=(), setup_dev=False, masked_paths=(), readonly_paths=(), readonly=False)
    out.append(f"   - make every mount {_flag_words(rootfs.propagation)} so the host does not see ours")
    out.append("   - bind the rootfs onto itself so it is a mount point (pivot_root needs one)")
    for op in rootfs.mounts:
        if op.kind == "bind":
            out.append(f"   - bind {op.source} on {op.destination} ({_flag_words(op.flags | op.remount_flags)})")
        elif op.kind == "cgroup":
            out.append(f"   - show the container's own cgroups at {op.destination} ({_flag_words(op.flags)})")
        else:
            data = f", {op.data}" if op.data else ""
            out.append(f"   - mount a new {op.fstype} on {op.destination} ({_flag_words(op.flags)}{data})")
    if rootfs.setup_dev:
        paths = ", ".join(d.path for d in rootfs.devices)
        out.append(f"   - create device nodes {paths}, and /dev/fd, /dev/std*, /dev/ptmx symlinks")
    if "mount" not in plan.new_kinds and "mount" not in dict(plan.joined):
        pass
    elif rootfs.no_pivot:
        out.append("   - detach the host's proc and sysfs mounts, move the rootfs onto / and chroot into it (--no-pivot)")
    else:
        out.append("   - pivot_root into the rootfs and detach the old root: the host's files are gone")
    for path in rootfs.masked_paths:
        out.append(f"   - mask {path} (covered by /dev/null or an empty read-only tmpfs)")
    for path in rootfs.readonly_paths:
        out.append(f"   - make {path} read-only")
    if rootfs.readonly:
        out.append("   - make the root filesystem read-only")

    out.append("")
    out.append("4. Identity:")
    if plan.hostname is not None:
        out.append(f"   - hostname {plan.hostname!r}")
    if plan.domainname is not None:
        out.append(f"   - domain name {plan.domainname!r}")
    for key, value in plan.sysctl:
        out.append(f"   - sysctl {key} = {value}")

    p = plan.process
    out.append("")
    out.append("5. The process:")
    if p is None:
        out.append("   - none: config.json has no process, so start will fail")
        return out
    out.append(f"   - run {list(p.args)} in {p.cwd} as uid {p.uid} gid {p.gid}"
               + (f" with groups {list(p.additional_gids)}" if p.additional_gids else ""))
    for name, _, soft, hard in p.rlimits:
        out.append(f"   - limit {name} to {soft} (soft) / {hard} (hard)")
    if p.capabilities is not None:
        caps = p.capabilities
        for kind in capabilities.SETS:
            names = capabilities.to_names(getattr(caps, kind))
            out.append(f"   - {kind} capabilities: {', '.join(names) if names else 'none'}")
    else:
        out.append("   - capabilities: unchanged (process.capabilities is absent)")
    if p.no_new_privileges:
        out.append("   - no_new_privs: setuid binaries and file capabilities cannot raise privileges")
    if p.seccomp is not None:
        from boxen.runtime import seccomp

        out.extend(f"   - seccomp: {line}" for line in seccomp.describe(p.seccomp))
    if p.terminal:
        out.append("   - stdio is a new pseudo-terminal, whose master goes to the console socket")

    hooks = spec.hooks
    if hooks is not None:
        out.append("")
        out.append("6. Hooks:")
        for kind in hooks.__fields__:
            for hook in getattr(hooks, kind) or ():
                out.append(f"   - {kind}: {hook.path} {' '.join((hook.args or ())[1:])}".rstrip())
    return out


def explain(runtime, container_id: str, bundle: str, opts: dict) -> None:
    sys.stderr.write("\n".join(lines(runtime, container_id, bundle, opts)) + "\n")
