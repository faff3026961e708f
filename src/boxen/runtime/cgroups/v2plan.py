"""Plan for cgroup v2: ``linux.resources`` to writes in the container's unified cgroup.

In cgroup v2 a controller works in a cgroup only if its parent lists it in
``cgroup.subtree_control``; the root's ``cgroup.controllers`` says which exist at all. So the
plan first enables, in every ancestor from the mount's root down, the controllers that are
missing there (runc enables every available controller this way), then writes the limits in
runc's order: pids, memory, io, cpu, devices (an eBPF program), cpuset, hugetlb, rdma, and
the raw ``unified`` files. The conversions from the spec's v1 vocabulary are in ``convert``.

runc ignores, on v2, the settings v2 has no file for, and so does boxen: memory
``swappiness``, ``disableOOMKiller``, ``kernel``, ``kernelTCP``, the realtime CPU budget and
``network``. A setting for a controller the hierarchy does not offer is refused, naming the
field and the controller.

Planning only reads: which controllers exist, what the ancestors enable, whether BFQ's
``io.bfq.weight`` is there, and, for ``runc update``'s partial values, the current memory
limit and CPU quota. Before ``create()`` it reads the nearest existing ancestor instead.
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.common.errors import InvalidArgument, Unimplemented
from boxen.runtime.cgroups.checks import check_resources
from boxen.runtime.cgroups.convert import cpu_weight, io_weight, swap_max, v2_number
from boxen.runtime.cgroups.devicefilter import device_filter
from boxen.runtime.cgroups.devices import DeviceState, device_rules
from boxen.runtime.cgroups.shared import controllers, enabling, existing, rdma_value, unified_writes
from boxen.runtime.cgroups.writes import CgroupWrite, read, size_words

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.oci.runtime import LinuxDevice, LinuxResources

DEFAULT_PERIOD = 100000


class _Plan:
    """Builds the writes for one cgroup v2 directory."""

    def __init__(self, directory: str, mount: str) -> None:
        self.directory = directory
        self.mount = mount
        self.available = controllers(mount)
        self.here = existing(directory, mount)
        self.writes: list[CgroupWrite] = []

    def need(self, controller: str, field: str) -> None:
        if controller not in self.available:
            raise Unimplemented(f"the {controller} controller is not available in the cgroup v2 hierarchy at "
                                f"{self.mount} (its cgroup.controllers lists: {', '.join(self.available) or 'none'})",
                                field=field)

    def add(self, name: str, value: str, what: str) -> None:
        self.writes.append(CgroupWrite(os.path.join(self.directory, name), value, what))

    def current(self, name: str) -> str | None:
        """A file's value in the cgroup itself (None before create() or if absent)."""
        if self.here != self.directory:
            return None
        text = read(os.path.join(self.directory, name))
        return None if text is None else text.strip()


def plan_v2(resources: LinuxResources | None, devices: tuple[LinuxDevice, ...], directory: str, mount: str,
            *, with_devices: bool = True) -> list[CgroupWrite]:
    """The writes that put ``resources`` (and the device rules) on the cgroup v2 ``directory``."""
    p = _Plan(directory, mount)
    p.writes.extend(enabling(directory, mount, p.available))
    r = resources
    if r is not None:
        check_resources(r)
        _pids(p, r)
        _memory(p, r)
        _io(p, r)
        _cpu(p, r)
    if with_devices:
        rules = device_rules(r.devices if r is not None else None, devices)
        p.writes.append(device_filter(directory, DeviceState.from_rules(rules)))
    if r is not None:
        _cpuset(p, r)
        for h in r.hugepageLimits or ():
            p.need("hugetlb", "linux.resources.hugepageLimits")
            p.add(f"hugetlb.{h.pageSize}.max", str(h.limit), f"use at most {size_words(h.limit)} of "
                  f"{h.pageSize} huge pages")
        for name in sorted(r.rdma or {}):
            p.need("rdma", "linux.resources.rdma")
            p.add("rdma.max", rdma_value(name, (r.rdma or {})[name]), f"limit RDMA resources of device {name}")
        if r.unified:
            p.writes.extend(unified_writes(directory, r.unified, p.available, f"in {mount}"))
    return p.writes


def _pids(p: _Plan, r: LinuxResources) -> None:
    if r.pids is None:
        return
    p.need("pids", "linux.resources.pids")
    limit = r.pids.limit
    p.add("pids.max", str(limit) if limit > 0 else "max",
          f"at most {limit} processes and threads" if limit > 0 else "no limit on the number of processes")


def _memory(p: _Plan, r: LinuxResources) -> None:
    m = r.memory
    if m is None or not (m.limit or m.reservation or m.swap):
        return
    p.need("memory", "linux.resources.memory")
    limit = m.limit
    if not limit and m.swap:
        current = p.current("memory.max")
        limit = -1 if current in (None, "max") else int(current)
    swap = swap_max(m.swap or 0, limit)
    if swap is not None:
        p.add("memory.swap.max", v2_number(swap),
              "no limit on swap" if swap < 0 else f"swap out at most {size_words(swap)}")
    if m.limit:
        p.add("memory.max", v2_number(m.limit), "no memory limit" if m.limit < 0 else
              f"limit memory to {size_words(m.limit)} (reclaim, then the OOM killer, beyond it)")
    if m.reservation:
        p.add("memory.low", v2_number(m.reservation), f"protect {size_words(m.reservation)} from reclaim "
              "when the host runs short" if m.reservation > 0 else "protect all memory from reclaim")


def _io(p: _Plan, r: LinuxResources) -> None:
    b = r.blockIO
    if b is None:
        return
    throttles = (("rbps", "read at most {} bytes/s", b.throttleReadBpsDevice),
                 ("wbps", "write at most {} bytes/s", b.throttleWriteBpsDevice),
                 ("riops", "read at most {} operations/s", b.throttleReadIOPSDevice),
                 ("wiops", "write at most {} operations/s", b.throttleWriteIOPSDevice))
    if not (b.weight or b.weightDevice or any(t[2] for t in throttles)):
        return
    p.need("io", "linux.resources.blockIO")
    bfq = read(os.path.join(p.here, "io.bfq.weight")) if p.here != p.mount else None
    if b.weight:
        if bfq is not None:
            p.add("io.bfq.weight", str(b.weight), f"I/O weight {b.weight} relative to siblings (BFQ, 1-1000)")
        elif not 10 <= b.weight <= 1000:
            raise InvalidArgument(f"blkio weight {b.weight} is outside 10-1000", field="linux.resources.blockIO.weight")
        else:
            p.add("io.weight", str(io_weight(b.weight)), f"I/O weight {io_weight(b.weight)} relative to siblings "
                  f"(blkio weight {b.weight} on the 1-10000 scale)")
    if bfq is not None and not bfq.strip().isdigit():
        for d in b.weightDevice or ():
            if d.weight:
                p.add("io.bfq.weight", f"{d.major}:{d.minor} {d.weight}", f"I/O weight {d.weight} on device "
                      f"{d.major}:{d.minor}")
    for key, words, devices in throttles:
        for t in devices or ():
            p.add("io.max", f"{t.major}:{t.minor} {key}={t.rate}", f"{words.format(t.rate)} on device "
                  f"{t.major}:{t.minor}")


def _cpu(p: _Plan, r: LinuxResources) -> None:
    c = r.cpu
    if c is None or not (c.shares or c.quota or c.period or c.idle is not None or c.burst is not None):
        return
    p.need("cpu", "linux.resources.cpu")
    if c.idle is not None:
        p.add("cpu.idle", str(c.idle), "run only when nothing else wants the CPU (SCHED_IDLE group)"
              if c.idle else "schedule normally (not idle)")
    if c.shares:
        weight = cpu_weight(c.shares)
        p.add("cpu.weight", str(weight), f"CPU weight {weight} relative to siblings (cpu.shares {c.shares} "
              "on the 1-10000 scale; 100 is the default)")
    if c.burst is not None:
        p.add("cpu.max.burst", str(c.burst), f"bank up to {c.burst} µs of unused quota for bursts")
    if c.quota or c.period:
        now = (p.current("cpu.max") or f"max {DEFAULT_PERIOD}").split()
        quota = str(c.quota) if c.quota and c.quota > 0 else ("max" if c.quota else now[0])
        period = c.period or int(now[1])
        what = (f"no CPU limit (period {period} µs)" if quota == "max"
                else f"run at most {quota} µs in every {period} µs ({int(quota) / period:g} CPUs)")
        p.add("cpu.max", f"{quota} {period}", what)


def _cpuset(p: _Plan, r: LinuxResources) -> None:
    c = r.cpu
    if c is None or not (c.cpus or c.mems):
        return
    p.need("cpuset", "linux.resources.cpu.cpus")
    if c.cpus:
        p.add("cpuset.cpus", c.cpus, f"run only on CPUs {c.cpus}")
    if c.mems:
        p.add("cpuset.mems", c.mems, f"allocate memory only from NUMA nodes {c.mems}")
