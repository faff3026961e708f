"""From a validated spec to the plan of a container: every decision, no action.

``plan_container`` turns ``config.json`` (already type-checked and validated) into a
:class:`ContainerPlan`: which namespaces to create and which to join, the id mappings, the
filesystem plan, the process to start with its identity, capabilities, limits and seccomp
filter, the hooks. The executors in ``boxen.runtime.init`` carry it out; ``--explain`` prints it;
unit tests assert on it. ``plan_process`` is shared with ``exec``, which starts a further
process in an existing container.
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.common.errors import InvalidArgument
from boxen.common.record import Record
from boxen.runtime import capabilities, namespaces
from boxen.runtime.rootfs import RootfsPlan, plan_rootfs
from boxen.runtime.validate import RLIMITS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.oci.runtime import Process, Spec
    from boxen.runtime.scheduling import Scheduling
    from boxen.runtime.seccomp import SeccompPlan


class Capabilities(Record):
    """The five capability sets as masks (see ``boxen.runtime.capabilities``)."""

    bounding: int
    effective: int
    inheritable: int
    permitted: int
    ambient: int


class ProcessPlan(Record):
    """The program to start and everything about how it runs."""

    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    umask: int | None
    terminal: bool
    console_size: tuple[int, int] | None
    rlimits: tuple[tuple[str, int, int, int], ...]  # (name, resource number, soft, hard)
    capabilities: Capabilities | None
    no_new_privileges: bool
    oom_score_adj: int | None
    seccomp: SeccompPlan | None
    apparmor_profile: str | None = None
    selinux_label: str | None = None
    scheduling: Scheduling | None = None
    cpu_affinity: tuple[frozenset[int] | None, frozenset[int] | None] | None = None  # exec: (initial, final)


class IDMap(Record):
    container_id: int
    host_id: int
    size: int


class ContainerPlan(Record):
    """A whole container, decided."""

    id: str
    bundle: str
    new_namespaces: int  # clone flags of the namespaces to create
    new_kinds: tuple[str, ...]
    joined: tuple[tuple[str, str], ...]  # (kind, path), in join order
    uid_mappings: tuple[IDMap, ...]
    gid_mappings: tuple[IDMap, ...]
    time_offsets: tuple[tuple[str, int, int], ...]  # (clock, seconds, nanoseconds)
    hostname: str | None
    domainname: str | None
    sysctl: tuple[tuple[str, str], ...]
    rootfs: RootfsPlan
    process: ProcessPlan | None  # None: created without a process; ``start`` then fails, as the spec says
    personality: int | None
    no_new_keyring: bool
    cgroups_path: str | None
    annotations: dict[str, str]


def _caps(process: Process) -> Capabilities | None:
    caps = process.capabilities
    if caps is None:
        return None
    base = "process.capabilities"
    return Capabilities(
        bounding=capabilities.to_mask(caps.bounding, f"{base}.bounding"),
        effective=capabilities.to_mask(caps.effective, f"{base}.effective"),
        inheritable=capabilities.to_mask(caps.inheritable, f"{base}.inheritable"),
        permitted=capabilities.to_mask(caps.permitted, f"{base}.permitted"),
        ambient=capabilities.to_mask(caps.ambient, f"{base}.ambient"),
    )


def plan_process(process: Process, seccomp_spec=None) -> ProcessPlan:
    """The process part of a plan (``create``'s init process, or ``exec``'s)."""
    user = process.user
    size = process.consoleSize
    seccomp = None
    if seccomp_spec is not None:
        from boxen.runtime import seccomp as seccomp_module

        seccomp = seccomp_module.plan(seccomp_spec)
    return ProcessPlan(
        args=tuple(process.args or ()),
        env=tuple(process.env or ()),
        cwd=process.cwd,
        uid=user.uid if user else 0,
        gid=user.gid if user else 0,
        additional_gids=tuple(user.additionalGids or ()) if user else (),
        umask=user.umask if user else None,
        terminal=process.terminal,
        console_size=(size.height, size.width) if size else None,
        rlimits=tuple((r.type, RLIMITS[r.type], r.soft, r.hard) for r in process.rlimits or ()),
        capabilities=_caps(process),
        no_new_privileges=process.noNewPrivileges,
        oom_score_adj=process.oomScoreAdj,
        seccomp=seccomp,
        scheduling=_scheduling(process),
        cpu_affinity=_affinity(process),
        apparmor_profile=process.apparmorProfile,
        selinux_label=process.selinuxLabel,
    )


def _scheduling(process: Process):
    if process.scheduler is None and process.ioPriority is None:
        return None
    from boxen.runtime import scheduling

    return scheduling.plan(process.scheduler, process.ioPriority)


def _affinity(process: Process):
    affinity = process.execCPUAffinity
    if affinity is None:
        return None
    from boxen.runtime.scheduling import parse_cpus

    field = "process.execCPUAffinity"
    return (parse_cpus(affinity.initial, f"{field}.initial") if affinity.initial else None,
            parse_cpus(affinity.final, f"{field}.final") if affinity.final else None)


def _source_is_dir(path: str) -> bool | None:
    try:
        return os.path.isdir(path) if os.path.exists(path) else None
    except OSError:
        return None


_PERSONALITY = {"LINUX": 0x0000, "LINUX32": 0x0008}


def plan_container(spec: Spec, container_id: str, bundle: str, *, no_pivot: bool = False,
                   no_new_keyring: bool = False) -> ContainerPlan:
    """Decide the whole container. ``spec`` must have passed ``boxen.runtime.validate``."""
    linux = spec.linux
    assert linux is not None and spec.root is not None
    new_kinds = tuple(ns.type for ns in linux.namespaces or () if ns.path is None)
    join_paths = {ns.type: ns.path for ns in linux.namespaces or () if ns.path is not None}
    joined = tuple((kind, join_paths[kind]) for kind in namespaces.JOIN_ORDER if kind in join_paths)
    root = spec.root.path
    rootfs = os.path.realpath(root if root.startswith("/") else os.path.join(bundle, root))
    time_offsets = tuple(
        (clock, offset.secs or 0, offset.nanosecs or 0) for clock, offset in (linux.timeOffsets or {}).items()
    )
    personality = None
    if linux.personality is not None:
        personality = _PERSONALITY[linux.personality.domain]
        if linux.personality.flags:
            raise InvalidArgument("personality flags are not supported", field="linux.personality.flags")
    return ContainerPlan(
        id=container_id,
        bundle=bundle,
        new_namespaces=namespaces.flags_of(new_kinds),
        new_kinds=new_kinds,
        joined=joined,
        uid_mappings=tuple(IDMap(m.containerID, m.hostID, m.size) for m in linux.uidMappings or ()),
        gid_mappings=tuple(IDMap(m.containerID, m.hostID, m.size) for m in linux.gidMappings or ()),
        time_offsets=time_offsets,
        hostname=spec.hostname,
        domainname=spec.domainname,
        sysctl=tuple((linux.sysctl or {}).items()),
        rootfs=plan_rootfs(spec, bundle, rootfs, no_pivot=no_pivot, source_is_dir=_source_is_dir),
        process=plan_process(spec.process, linux.seccomp) if spec.process is not None else None,
        personality=personality,
        no_new_keyring=no_new_keyring,
        cgroups_path=linux.cgroupsPath,
        annotations=dict(spec.annotations or {}),
    )
