"""Plan for cgroup v1: ``linux.resources`` to writes, controller by controller.

In cgroup v1 each controller has its own hierarchy, so the container has one directory per
controller and every limit goes to the directory of its controller: memory limits to
``memory/<path>/memory.limit_in_bytes``, CPU shares to ``cpu/<path>/cpu.shares``. The writes
come in runc's order (cpuset, devices, memory, cpu, pids, blkio, hugetlb, net_cls, net_prio,
rdma), with runc's values:

* memory: the limit, then the memory+swap limit ``memory.memsw.limit_in_bytes`` (or the other
  way round when raising both: memsw must never be below the limit); swap needs the kernel's
  swap accounting, and an unlimited memory limit makes swap unlimited too when it can. Then
  the soft limit (``reservation``), ``memory.kmem.tcp.limit_in_bytes`` (``kernelTCP``) when the
  kernel still has it, ``memory.oom_control`` and ``memory.swappiness``. ``kernel`` (the
  kmem limit) and ``useHierarchy`` are ignored, as runc ignores them. Checked on Linux 6.18
  (the project machine): ``memory.kmem.limit_in_bytes`` accepts a write and still reads
  unlimited, ``memory.use_hierarchy`` refuses 0, while ``memory.kmem.tcp.limit_in_bytes``,
  ``memory.memsw.*``, ``memory.oom_control`` and ``memory.swappiness`` work. (runc 1.1 ignores
  ``kernelTCP`` too; boxen writes it while the kernel has the file.)
* blkio: ``blkio.weight`` under the old CFQ scheduler, ``blkio.bfq.weight`` under BFQ.
* hugetlb: ``hugetlb.<size>.limit_in_bytes``; on a hybrid host where only the cgroup2
  hierarchy has the hugetlb controller (the project machine), ``hugetlb.<size>.max`` in the
  container's cgroup2 directory, after enabling the controller on the way down.
* ``unified``: refused on pure v1 (as runc does); on a hybrid host allowed for the controllers
  that only the cgroup2 hierarchy has.

A field for a controller that is not mounted is refused, naming the field.
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.common.errors import InvalidArgument, Unimplemented
from boxen.runtime.cgroups.checks import check_resources, check_swap
from boxen.runtime.cgroups.devices import DeviceState, device_rules, v1_writes
from boxen.runtime.cgroups.shared import controllers, enabling, existing, rdma_value, unified_writes
from boxen.runtime.cgroups.writes import CgroupWrite, read, size_words

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.oci.runtime import LinuxDevice, LinuxResources

#: memory.limit_in_bytes reads this (PAGE_COUNTER_MAX pages) or more when there is no limit.
UNLIMITED = 1 << 62


class _Plan:
    """Builds the writes for the container's v1 directories."""

    def __init__(self, paths: dict[str, str], mounts: dict[str, str]) -> None:
        self.paths = paths
        self.mounts = mounts
        self.writes: list[CgroupWrite] = []

    def dir(self, controller: str, field: str) -> str:
        directory = self.paths.get(controller)
        if directory is None:
            roots = sorted({os.path.dirname(m) for m in self.mounts.values()})
            raise Unimplemented(f"the {controller} controller is not mounted under {', '.join(roots)}",
                                field=field)
        return directory

    def has(self, controller: str, name: str) -> bool:
        """Does the kernel offer ``name`` in this controller's cgroup (or the one it will inherit from)?"""
        return os.path.exists(os.path.join(self.here(controller), name))

    def here(self, controller: str) -> str:
        return existing(self.paths[controller], self.mounts[controller])

    def add(self, controller: str, field: str, name: str, value: str, what: str) -> None:
        self.writes.append(CgroupWrite(os.path.join(self.dir(controller, field), name), value, what))


def plan_v1(resources: LinuxResources | None, devices: tuple[LinuxDevice, ...], paths: dict[str, str],
            mounts: dict[str, str], *, with_devices: bool = True) -> list[CgroupWrite]:
    """The writes that put ``resources`` (and the device rules) on the container's v1 cgroups."""
    p = _Plan(paths, mounts)
    r = resources
    if r is not None:
        check_resources(r)
        if r.unified and "" not in paths:
            raise InvalidArgument("needs cgroup v2, and this host has cgroup v1 only", field="linux.resources.unified")
        _cpuset(p, r)
    if with_devices:
        directory = p.dir("devices", "linux.resources.devices")
        target = DeviceState.from_rules(device_rules(r.devices if r is not None else None, devices))
        current = read(os.path.join(p.here("devices"), "devices.list"))
        p.writes.extend(v1_writes(directory, target, current))
    if r is None:
        return p.writes
    _memory(p, r)
    _cpu(p, r)
    if r.pids is not None:
        limit = r.pids.limit
        p.add("pids", "linux.resources.pids", "pids.max", str(limit) if limit > 0 else "max",
              f"at most {limit} processes and threads" if limit > 0 else "no limit on the number of processes")
    _blkio(p, r)
    _hugetlb(p, r)
    _network(p, r)
    for name in sorted(r.rdma or {}):
        p.add("rdma", "linux.resources.rdma", "rdma.max", rdma_value(name, (r.rdma or {})[name]),
              f"limit RDMA resources of device {name}")
    if r.unified:
        p.writes.extend(unified_writes(paths[""], r.unified, _v2_only(p), "in the cgroup2 hierarchy of this "
                                       "hybrid host (v1 owns the others)"))
    return p.writes


def _cpuset(p: _Plan, r: LinuxResources) -> None:
    c = r.cpu
    if c is not None and c.cpus:
        p.add("cpuset", "linux.resources.cpu.cpus", "cpuset.cpus", c.cpus, f"run only on CPUs {c.cpus}")
    if c is not None and c.mems:
        p.add("cpuset", "linux.resources.cpu.mems", "cpuset.mems", c.mems,
              f"allocate memory only from NUMA nodes {c.mems}")


def _memory(p: _Plan, r: LinuxResources) -> None:
    m = r.memory
    if m is None:
        return
    field = "linux.resources.memory"
    limit, swap = m.limit or 0, m.swap or 0
    if not any((limit, swap, m.reservation, m.kernelTCP, m.disableOOMKiller, m.swappiness is not None)):
        return
    p.dir("memory", field)
    memsw = p.has("memory", "memory.memsw.limit_in_bytes")
    if limit == -1 and swap == 0 and memsw:
        swap = -1
    if swap and not memsw:
        raise Unimplemented("the kernel has no swap accounting (no memory.memsw.limit_in_bytes; boot with "
                            "swapaccount=1)", field=field + ".swap")
    current = _current_limit(p)
    check_swap(swap, limit or current)
    limit_write = ("memory.limit_in_bytes", str(limit), "no memory limit" if limit < 0 else
                   f"limit memory to {size_words(limit)} (reclaim, then the OOM killer, beyond it)")
    swap_write = ("memory.memsw.limit_in_bytes", str(swap), "no limit on memory plus swap" if swap < 0 else
                  f"limit memory plus swap to {size_words(swap)}")
    if limit and swap and (swap == -1 or (current if current > 0 else UNLIMITED) < swap):
        order = [swap_write, limit_write]  # raising both: memsw may never be below the limit
    else:
        order = [w for w, on in ((limit_write, limit), (swap_write, swap)) if on]
    for name, value, what in order:
        p.add("memory", field, name, value, what)
    if m.reservation:
        p.add("memory", field + ".reservation", "memory.soft_limit_in_bytes", str(m.reservation),
              f"reclaim memory above {size_words(m.reservation)} first when the host runs short (soft limit)"
              if m.reservation > 0 else "no soft limit")
    if m.kernelTCP and p.has("memory", "memory.kmem.tcp.limit_in_bytes"):
        p.add("memory", field + ".kernelTCP", "memory.kmem.tcp.limit_in_bytes", str(m.kernelTCP),
              f"limit kernel memory for TCP buffers to {size_words(m.kernelTCP)}" if m.kernelTCP > 0
              else "no limit on TCP buffer memory")
    if m.disableOOMKiller:
        p.add("memory", field + ".disableOOMKiller", "memory.oom_control", "1",
              "never OOM-kill: at the limit, processes wait for memory instead")
    if m.swappiness is not None:
        p.add("memory", field + ".swappiness", "memory.swappiness", str(m.swappiness),
              f"swap tendency {m.swappiness} (0 avoids swapping, 100 swaps eagerly)")


def _current_limit(p: _Plan) -> int:
    """The cgroup's memory limit now: -1 when unlimited or not created yet."""
    directory = p.paths.get("memory")
    if directory is None or p.here("memory") != directory:
        return -1
    text = read(os.path.join(directory, "memory.limit_in_bytes"))
    value = int(text) if text and text.strip().isdigit() else -1
    return -1 if value >= UNLIMITED else value


def _cpu(p: _Plan, r: LinuxResources) -> None:
    c = r.cpu
    if c is None:
        return
    field = "linux.resources.cpu"
    if c.shares:
        p.add("cpu", field + ".shares", "cpu.shares", str(c.shares),
              f"CPU weight {c.shares} relative to sibling cgroups (1024 is the default)")
    if c.period:
        p.add("cpu", field + ".period", "cpu.cfs_period_us", str(c.period), f"CPU accounting period {c.period} µs")
    if c.burst is not None and "cpu" in p.paths and p.has("cpu", "cpu.cfs_burst_us"):
        p.add("cpu", field + ".burst", "cpu.cfs_burst_us", str(c.burst),
              f"bank up to {c.burst} µs of unused quota for bursts")
    if c.quota:
        p.add("cpu", field + ".quota", "cpu.cfs_quota_us", str(c.quota), "no CPU limit" if c.quota < 0 else
              f"run at most {c.quota} µs per period" + (f" ({c.quota / c.period:g} CPUs)" if c.period else ""))
    if c.idle is not None:
        p.add("cpu", field + ".idle", "cpu.idle", str(c.idle), "run only when nothing else wants the CPU "
              "(SCHED_IDLE group)" if c.idle else "schedule normally (not idle)")
    if c.realtimePeriod:
        p.add("cpu", field + ".realtimePeriod", "cpu.rt_period_us", str(c.realtimePeriod),
              f"realtime accounting period {c.realtimePeriod} µs")
    if c.realtimeRuntime:
        p.add("cpu", field + ".realtimeRuntime", "cpu.rt_runtime_us", str(c.realtimeRuntime),
              f"realtime tasks may run {c.realtimeRuntime} µs per realtime period" if c.realtimeRuntime > 0
              else "no realtime limit")


def _blkio(p: _Plan, r: LinuxResources) -> None:
    b = r.blockIO
    if b is None:
        return
    field = "linux.resources.blockIO"
    cfq = "blkio" in p.paths and p.has("blkio", "blkio.weight")
    weight, weight_device = ("blkio.weight", "blkio.weight_device") if cfq else ("blkio.bfq.weight",
                                                                                 "blkio.bfq.weight_device")
    if b.weight:
        p.add("blkio", field + ".weight", weight, str(b.weight), f"I/O weight {b.weight} relative to siblings")
    if b.leafWeight:
        p.add("blkio", field + ".leafWeight", "blkio.leaf_weight", str(b.leafWeight),
              f"I/O weight {b.leafWeight} against this cgroup's own children")
    for i, d in enumerate(b.weightDevice or ()):
        device = f"{d.major}:{d.minor}"
        if d.weight:
            p.add("blkio", f"{field}.weightDevice[{i}]", weight_device, f"{device} {d.weight}",
                  f"I/O weight {d.weight} on device {device}")
        if d.leafWeight:
            p.add("blkio", f"{field}.weightDevice[{i}]", "blkio.leaf_weight_device", f"{device} {d.leafWeight}",
                  f"I/O weight {d.leafWeight} on device {device} against the children")
    for key, name, words in (("throttleReadBpsDevice", "read_bps_device", "read at most {} bytes/s"),
                             ("throttleWriteBpsDevice", "write_bps_device", "write at most {} bytes/s"),
                             ("throttleReadIOPSDevice", "read_iops_device", "read at most {} operations/s"),
                             ("throttleWriteIOPSDevice", "write_iops_device", "write at most {} operations/s")):
        for t in getattr(b, key) or ():
            p.add("blkio", f"{field}.{key}", f"blkio.throttle.{name}", f"{t.major}:{t.minor} {t.rate}",
                  f"{words.format(t.rate)} on device {t.major}:{t.minor}")


def _hugetlb(p: _Plan, r: LinuxResources) -> None:
    limits = r.hugepageLimits or ()
    if not limits:
        return
    field = "linux.resources.hugepageLimits"
    if "hugetlb" in p.paths or "hugetlb" not in _v2_only(p):
        for h in limits:
            p.add("hugetlb", field, f"hugetlb.{h.pageSize}.limit_in_bytes", str(h.limit),
                  f"use at most {size_words(h.limit)} of {h.pageSize} huge pages")
        return
    directory = p.paths[""]
    p.writes.extend(enabling(directory, p.mounts[""], ["hugetlb"]))
    for h in limits:
        p.writes.append(CgroupWrite(os.path.join(directory, f"hugetlb.{h.pageSize}.max"), str(h.limit),
                                    f"use at most {size_words(h.limit)} of {h.pageSize} huge pages (hugetlb is "
                                    "on the cgroup2 hierarchy here)"))


def _v2_only(p: _Plan) -> list[str]:
    """Controllers of a hybrid host's cgroup2 hierarchy that no v1 hierarchy has."""
    if "" not in p.mounts:
        return []
    return [c for c in controllers(p.mounts[""]) if c not in p.paths]


def _network(p: _Plan, r: LinuxResources) -> None:
    n = r.network
    if n is None:
        return
    if n.classID is not None:
        p.add("net_cls", "linux.resources.network.classID", "net_cls.classid", str(n.classID),
              f"tag packets with traffic class {n.classID >> 16:x}:{n.classID & 0xFFFF:x} (for tc filters)")
    for i, prio in enumerate(n.priorities or ()):
        p.add("net_prio", f"linux.resources.network.priorities[{i}]", "net_prio.ifpriomap",
              f"{prio.name} {prio.priority}", f"packets leaving through {prio.name} get priority {prio.priority}")
