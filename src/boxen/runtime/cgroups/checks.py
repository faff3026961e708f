"""Checks of ``linux.resources`` that hold for both cgroup versions.

The kernel checks every value when it is written, but its answer is a bare ``EINVAL`` on a file
name; checking first gives an error that names the spec field and the allowed range, and
refuses the config before anything is created. Ranges are the kernel's:

* ``cpu.shares``: 2 to 262144 (``MIN_SHARES``, ``MAX_SHARES``); 0 means "not set".
* CFS ``period``: 1 ms to 1 s; ``quota``: at least 1 ms, or negative for no limit; 0 is unset.
* ``memory.swappiness``: 0 to 100.
* memory limits: bytes, or -1 for no limit.
* ``cpus``/``mems``: lists such as ``0-3,6``.
"""

from __future__ import annotations

from boxen.common.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.oci.runtime import LinuxCPU, LinuxMemory, LinuxResources

MIN_SHARES, MAX_SHARES = 2, 1 << 18
MIN_PERIOD, MAX_PERIOD = 1000, 1000000
MIN_QUOTA = 1000


def check_resources(r: LinuxResources) -> None:
    """Raise InvalidArgument, naming the field, for a value no kernel accepts."""
    if r.memory is not None:
        check_memory(r.memory)
    if r.cpu is not None:
        check_cpu(r.cpu)
    for i, h in enumerate(r.hugepageLimits or ()):
        check_page_size(h.pageSize, f"linux.resources.hugepageLimits[{i}].pageSize")
    for name in r.rdma or {}:
        limits = (r.rdma or {})[name]
        if not name or any(ch.isspace() for ch in name):
            raise InvalidArgument(f"{name!r} is not an RDMA device name", field="linux.resources.rdma")
        if limits.hcaHandles is None and limits.hcaObjects is None:
            raise InvalidArgument("give hcaHandles, hcaObjects or both", field=f"linux.resources.rdma.{name}")
    if r.network is not None:
        for i, p in enumerate(r.network.priorities or ()):
            if not p.name or any(ch.isspace() for ch in p.name):
                raise InvalidArgument(f"{p.name!r} is not an interface name",
                                      field=f"linux.resources.network.priorities[{i}].name")


def check_memory(m: LinuxMemory) -> None:
    for name in ("limit", "reservation", "swap", "kernel", "kernelTCP"):
        value = getattr(m, name)
        if value is not None and value < -1:
            raise InvalidArgument(f"{value} is not a size in bytes (or -1 for no limit)",
                                  field=f"linux.resources.memory.{name}")
    if m.swappiness is not None and m.swappiness > 100:
        raise InvalidArgument(f"swappiness {m.swappiness} is outside 0-100", field="linux.resources.memory.swappiness")


def check_swap(swap: int | None, limit: int | None) -> None:
    """The spec's swap is memory+swap: it needs a memory limit and cannot be below it."""
    if swap is None or swap <= 0:
        return
    field = "linux.resources.memory.swap"
    if limit is None or limit <= 0:
        raise InvalidArgument("cannot limit memory+swap without a memory limit "
                              "(linux.resources.memory.limit)", field=field)
    if swap < limit:
        raise InvalidArgument(f"memory+swap limit {swap} is below the memory limit {limit}: swap counts memory "
                              "plus swap, so it must be at least the limit", field=field)


def check_cpu(c: LinuxCPU) -> None:
    field = "linux.resources.cpu."
    if c.shares and not MIN_SHARES <= c.shares <= MAX_SHARES:
        bound = "minimum" if c.shares < MIN_SHARES else "maximum"
        limit = MIN_SHARES if c.shares < MIN_SHARES else MAX_SHARES
        raise InvalidArgument(f"the {bound} allowed cpu-shares is {limit}", field=field + "shares")
    if c.period and not MIN_PERIOD <= c.period <= MAX_PERIOD:
        raise InvalidArgument(f"period {c.period} is outside {MIN_PERIOD}-{MAX_PERIOD} microseconds (1 ms to 1 s)",
                              field=field + "period")
    if c.quota is not None and 0 < c.quota < MIN_QUOTA:
        raise InvalidArgument(f"quota {c.quota} is below {MIN_QUOTA} microseconds (use -1 for no limit)",
                              field=field + "quota")
    if c.idle is not None and c.idle not in (0, 1):
        raise InvalidArgument(f"idle must be 0 or 1, not {c.idle}", field=field + "idle")
    for name in ("cpus", "mems"):
        value = getattr(c, name)
        if value and not _is_list(value):
            raise InvalidArgument(f"{value!r} is not a list such as 0-3,6", field=field + name)


def _is_list(text: str) -> bool:
    for part in text.strip().split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and (not high.isdigit() or int(high) < int(low))):
            return False
    return True


def check_page_size(size: str, field: str) -> None:
    """A huge page size as the hugetlb files name it: 2MB, 1GB, 64KB."""
    if not (len(size) > 2 and size[-2:] in ("KB", "MB", "GB") and size[:-2].isdigit()):
        raise InvalidArgument(f"page size {size!r} is not a size such as 2MB or 1GB", field=field)
