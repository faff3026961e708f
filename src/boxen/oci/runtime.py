"""The OCI runtime specification (v1.2) as types: ``config.json`` and the state document.

A *bundle* is a directory holding ``config.json`` and the container's root filesystem. The
configuration says everything a runtime needs to build the container: which process to run
and as whom (:class:`Process`), which filesystems to mount (:class:`Mount`), and, on Linux,
which namespaces isolate the process, which cgroup resources constrain it, and which
capabilities, seccomp filter and devices it gets (:class:`Linux`).

Field names are the spec's property names, so ``spec.linux.cgroupsPath`` here is
``"linux": {"cgroupsPath": ...}`` in the JSON and in the spec's prose. These are types only:
:func:`load_config` checks JSON types (naming the path of any mistake); the rules between
fields (absolute paths, known capability names, one namespace of each kind...) are checked
by ``boxen.runtime.validate``.
"""

from __future__ import annotations

from boxen.common import jsonio
from boxen.common.record import Record
from boxen.common.schema import I32, I64, U16, U32, U64, from_json  # noqa: F401 (names used in annotations)

from boxen.oci import CREATED, CREATING, OCI_VERSION, PAUSED, RUNNING, STOPPED  # noqa: F401 (re-exported)


# --- process -----------------------------------------------------------------------------


class Box(Record):
    """Size of a terminal, in characters (``process.consoleSize``)."""

    height: U32
    width: U32


class User(Record):
    """The identity the process runs as: ``setresuid``/``setresgid``, ``setgroups``, ``umask``."""

    uid: U32
    gid: U32
    umask: U32 | None = None
    additionalGids: tuple[U32, ...] | None = None
    username: str | None = None


class POSIXRlimit(Record):
    """One ``setrlimit``: ``type`` is the resource's name, such as ``RLIMIT_NOFILE``."""

    type: str
    hard: U64
    soft: U64


class LinuxCapabilities(Record):
    """The five capability sets of the process, by name (``CAP_CHOWN``...)."""

    bounding: tuple[str, ...] | None = None
    effective: tuple[str, ...] | None = None
    inheritable: tuple[str, ...] | None = None
    permitted: tuple[str, ...] | None = None
    ambient: tuple[str, ...] | None = None


class Scheduler(Record):
    """``sched_setattr`` parameters for the process (runtime-spec 1.2)."""

    policy: str
    nice: I32 | None = None
    priority: I32 | None = None
    flags: tuple[str, ...] | None = None
    runtime: U64 | None = None
    deadline: U64 | None = None
    period: U64 | None = None


class LinuxIOPriority(Record):
    """``ioprio_set`` class and level for the process (runtime-spec 1.2)."""

    # "class" is a Python keyword: the attribute is ``class_`` and the JSON name "class".
    class_: str
    priority: I32
    __json_names__ = {"class_": "class"}


class CPUAffinity(Record):
    """CPU affinity of exec'd processes before and after they join the cgroup (1.2)."""

    initial: str | None = None
    final: str | None = None


class Process(Record):
    """The container process: what runs (``args``), where (``cwd``), as whom, with what limits."""

    cwd: str
    user: User | None = None
    terminal: bool = False
    consoleSize: Box | None = None
    args: tuple[str, ...] | None = None
    commandLine: str | None = None
    env: tuple[str, ...] | None = None
    rlimits: tuple[POSIXRlimit, ...] | None = None
    apparmorProfile: str | None = None
    capabilities: LinuxCapabilities | None = None
    noNewPrivileges: bool = False
    oomScoreAdj: int | None = None
    scheduler: Scheduler | None = None
    selinuxLabel: str | None = None
    ioPriority: LinuxIOPriority | None = None
    execCPUAffinity: CPUAffinity | None = None


# --- root, mounts, hooks -------------------------------------------------------------------


class Root(Record):
    """The container's root filesystem: a path, relative to the bundle or absolute."""

    path: str
    readonly: bool = False


class LinuxIDMapping(Record):
    """``size`` ids starting at ``containerID`` inside map to ``hostID`` outside."""

    containerID: U32
    hostID: U32
    size: U32


class Mount(Record):
    """One mount, at ``destination`` inside the container; ``options`` are fstab-style."""

    destination: str
    source: str | None = None
    options: tuple[str, ...] | None = None
    type: str | None = None
    uidMappings: tuple[LinuxIDMapping, ...] | None = None
    gidMappings: tuple[LinuxIDMapping, ...] | None = None


class Hook(Record):
    """A program the runtime runs at a point of the lifecycle, with the state on stdin."""

    path: str
    args: tuple[str, ...] | None = None
    env: tuple[str, ...] | None = None
    timeout: int | None = None


class Hooks(Record):
    """Hooks by lifecycle point (see ``boxen.runtime.hooks`` for when each kind runs)."""

    prestart: tuple[Hook, ...] | None = None
    createRuntime: tuple[Hook, ...] | None = None
    createContainer: tuple[Hook, ...] | None = None
    startContainer: tuple[Hook, ...] | None = None
    poststart: tuple[Hook, ...] | None = None
    poststop: tuple[Hook, ...] | None = None


# --- linux: resources ----------------------------------------------------------------------


class LinuxDeviceCgroup(Record):
    """A device access rule: allow or deny ``access`` (r, w, m) to char/block devices."""

    allow: bool
    type: str | None = None
    major: I64 | None = None
    minor: I64 | None = None
    access: str | None = None


class LinuxMemory(Record):
    """Memory limits in bytes; ``-1`` means unlimited."""

    limit: I64 | None = None
    reservation: I64 | None = None
    swap: I64 | None = None
    kernel: I64 | None = None
    kernelTCP: I64 | None = None
    swappiness: U64 | None = None
    disableOOMKiller: bool | None = None
    useHierarchy: bool | None = None
    checkBeforeUpdate: bool | None = None


class LinuxCPU(Record):
    """CPU shares, CFS quota and period, realtime budget and cpuset."""

    shares: U64 | None = None
    quota: I64 | None = None
    burst: U64 | None = None
    period: U64 | None = None
    realtimeRuntime: I64 | None = None
    realtimePeriod: U64 | None = None
    cpus: str | None = None
    mems: str | None = None
    idle: I64 | None = None


class LinuxPids(Record):
    """The most tasks the cgroup may hold; ``-1`` or ``0`` mean no limit."""

    limit: I64


class LinuxWeightDevice(Record):
    major: I64
    minor: I64
    weight: U16 | None = None
    leafWeight: U16 | None = None


class LinuxThrottleDevice(Record):
    major: I64
    minor: I64
    rate: U64


class LinuxBlockIO(Record):
    """Block I/O weight and per-device throttling."""

    weight: U16 | None = None
    leafWeight: U16 | None = None
    weightDevice: tuple[LinuxWeightDevice, ...] | None = None
    throttleReadBpsDevice: tuple[LinuxThrottleDevice, ...] | None = None
    throttleWriteBpsDevice: tuple[LinuxThrottleDevice, ...] | None = None
    throttleReadIOPSDevice: tuple[LinuxThrottleDevice, ...] | None = None
    throttleWriteIOPSDevice: tuple[LinuxThrottleDevice, ...] | None = None


class LinuxHugepageLimit(Record):
    pageSize: str
    limit: U64


class LinuxInterfacePriority(Record):
    name: str
    priority: U32


class LinuxNetwork(Record):
    """net_cls class id and net_prio priorities (cgroup v1 only)."""

    classID: U32 | None = None
    priorities: tuple[LinuxInterfacePriority, ...] | None = None


class LinuxRdma(Record):
    hcaHandles: U32 | None = None
    hcaObjects: U32 | None = None


class LinuxResources(Record):
    """What the container's cgroup limits; ``unified`` holds raw cgroup v2 file values."""

    devices: tuple[LinuxDeviceCgroup, ...] | None = None
    memory: LinuxMemory | None = None
    cpu: LinuxCPU | None = None
    pids: LinuxPids | None = None
    blockIO: LinuxBlockIO | None = None
    hugepageLimits: tuple[LinuxHugepageLimit, ...] | None = None
    network: LinuxNetwork | None = None
    rdma: dict[str, LinuxRdma] | None = None
    unified: dict[str, str] | None = None


# --- linux: isolation and security -------------------------------------------------------------


class LinuxNamespace(Record):
    """A namespace to create (no ``path``) or to join (``path`` of an nsfs file)."""

    type: str
    path: str | None = None


class LinuxDevice(Record):
    """A device node to create in the container's /dev (``type`` c, b, u or p)."""

    path: str
    type: str
    major: I64 | None = None
    minor: I64 | None = None
    fileMode: U32 | None = None
    uid: U32 | None = None
    gid: U32 | None = None


class LinuxSeccompArg(Record):
    """A condition on syscall argument ``index``: ``op`` compares it with ``value``."""

    index: U32
    value: U64
    op: str
    valueTwo: U64 | None = None


class LinuxSyscall(Record):
    """A seccomp rule: these syscall ``names`` (under ``args`` conditions) get ``action``."""

    names: tuple[str, ...]
    action: str
    errnoRet: U32 | None = None
    args: tuple[LinuxSeccompArg, ...] | None = None


class LinuxSeccomp(Record):
    """A seccomp filter: ``defaultAction`` unless a rule in ``syscalls`` matches."""

    defaultAction: str
    defaultErrnoRet: U32 | None = None
    architectures: tuple[str, ...] | None = None
    flags: tuple[str, ...] | None = None
    listenerPath: str | None = None
    listenerMetadata: str | None = None
    syscalls: tuple[LinuxSyscall, ...] | None = None


class LinuxTimeOffset(Record):
    """Offset of a clock in the container's time namespace."""

    secs: I64 | None = None
    nanosecs: U32 | None = None


class LinuxIntelRdt(Record):
    closID: str | None = None
    l3CacheSchema: str | None = None
    memBwSchema: str | None = None
    schemata: tuple[str, ...] | None = None
    enableCMT: bool | None = None
    enableMBM: bool | None = None


class LinuxPersonality(Record):
    domain: str
    flags: tuple[str, ...] | None = None


class Linux(Record):
    """Everything Linux-specific: namespaces, id mappings, cgroups, devices, security."""

    namespaces: tuple[LinuxNamespace, ...] | None = None
    uidMappings: tuple[LinuxIDMapping, ...] | None = None
    gidMappings: tuple[LinuxIDMapping, ...] | None = None
    timeOffsets: dict[str, LinuxTimeOffset] | None = None
    devices: tuple[LinuxDevice, ...] | None = None
    cgroupsPath: str | None = None
    resources: LinuxResources | None = None
    rootfsPropagation: str | None = None
    seccomp: LinuxSeccomp | None = None
    sysctl: dict[str, str] | None = None
    maskedPaths: tuple[str, ...] | None = None
    readonlyPaths: tuple[str, ...] | None = None
    mountLabel: str | None = None
    intelRdt: LinuxIntelRdt | None = None
    personality: LinuxPersonality | None = None


class Spec(Record):
    """A whole ``config.json``."""

    ociVersion: str
    root: Root | None = None
    mounts: tuple[Mount, ...] | None = None
    process: Process | None = None
    hostname: str | None = None
    domainname: str | None = None
    hooks: Hooks | None = None
    annotations: dict[str, str] | None = None
    linux: Linux | None = None


# --- state ----------------------------------------------------------------------------------


class State(Record):
    """The state document (``runtime state``, and what hooks read on stdin)."""

    ociVersion: str
    id: str
    status: str
    bundle: str
    pid: int | None = None
    annotations: dict[str, str] | None = None


def parse_config(text: str | bytes, source: str = "config.json") -> Spec:
    """Parse the text of a ``config.json``; errors name the JSON path and what was expected."""
    data = jsonio.loads(text, source=source)
    return from_json(Spec, data)


def load_config(path: str) -> Spec:
    """Read and parse the ``config.json`` at ``path``."""
    with open(path, "rb") as f:
        return parse_config(f.read(), source=path)
