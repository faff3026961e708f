"""Resource statistics, shaped like the ``data`` of ``runc events --stats``.

Controllers count as well as limit: ``memory.stat`` and ``memory.usage_in_bytes`` (v1) or
``memory.current`` (v2), ``cpuacct.usage`` (v1) or ``cpu.stat``'s ``usage_usec`` (v2),
``pids.current``, ``blkio.*`` or ``io.stat``, ``hugetlb.*``. runc reads them into its
``types.Stats`` and prints it as JSON; this module builds the same document as a dict, field
names, units (nanoseconds for CPU time, bytes for memory) and omitted empty fields included,
so tools that parse runc's output parse boxen's.

Not on the runtime's start-up path: imported when stats are asked for.
"""

from __future__ import annotations

from boxen.common import posixos as os
from boxen.runtime.cgroups.writes import read

_MAX = (1 << 64) - 1
_NS_PER_TICK = 10_000_000  # cpuacct.stat counts USER_HZ (100) ticks


def _text(directory: str, name: str) -> str | None:
    return read(os.path.join(directory, name))


def _uint(directory: str, name: str) -> int | None:
    """A file holding one number; ``max`` is 2^64-1 as in runc; None if the file is missing."""
    text = _text(directory, name)
    if text is None:
        return None
    text = text.strip()
    return _MAX if text == "max" else max(int(text), 0)


def _flat(directory: str, name: str) -> dict[str, int]:
    """A "key value" per line file (memory.stat, cpu.stat)."""
    out = {}
    for line in (_text(directory, name) or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def _omit(doc: dict, *keys: str) -> dict:
    """Drop zero or empty values of ``keys`` (Go's ``omitempty``)."""
    return {k: v for k, v in doc.items() if k not in keys or v}


def _memory_entry(usage: int = 0, limit: int = 0, max_usage: int = 0, failcnt: int = 0) -> dict:
    return _omit({"limit": limit, "usage": usage, "max": max_usage, "failcnt": failcnt}, "usage", "max")


def _no_memory() -> dict:
    return {"usage": _memory_entry(), "swap": _memory_entry(), "kernel": _memory_entry(), "kernelTCP": _memory_entry()}


def _page_sizes() -> list[str]:
    """Huge page sizes as the hugetlb files name them (2MB, 1GB), from /sys/kernel/mm/hugepages."""
    try:
        names = os.listdir("/sys/kernel/mm/hugepages")
    except OSError:
        return []
    sizes = []
    for name in names:
        kb = int(name[len("hugepages-"):-len("kB")])
        sizes.append(f"{kb >> 20}GB" if kb >= 1 << 20 else f"{kb >> 10}MB" if kb >= 1 << 10 else f"{kb}KB")
    return sizes


def _document(cpu: dict, cpuset: dict, memory: dict, pids: dict, blkio: dict, hugetlb: dict) -> dict:
    return {"cpu": cpu, "cpuset": cpuset, "memory": memory, "pids": _omit(pids, "current", "limit"),
            "blkio": blkio, "hugetlb": hugetlb, "intel_rdt": {}, "network_interfaces": None}


# --- cgroup v1 -----------------------------------------------------------------------------------


def v1_stats(paths: dict[str, str]) -> dict:
    cpuset = _cpuset_v1(paths["cpuset"]) if "cpuset" in paths else _cpuset_v1(None)
    cpu = _cpu_v1(paths.get("cpu"), paths.get("cpuacct"))
    memory = _memory_v1(paths["memory"]) if "memory" in paths else _no_memory()
    pids = {}
    if "pids" in paths:
        limit = _uint(paths["pids"], "pids.max") or 0
        pids = {"current": _uint(paths["pids"], "pids.current") or 0, "limit": 0 if limit == _MAX else limit}
    blkio = _blkio_v1(paths["blkio"]) if "blkio" in paths else {}
    if "hugetlb" in paths:
        hugetlb = {size: _omit({"usage": _uint(paths["hugetlb"], f"hugetlb.{size}.usage_in_bytes") or 0,
                                "max": _uint(paths["hugetlb"], f"hugetlb.{size}.max_usage_in_bytes") or 0,
                                "failcnt": _uint(paths["hugetlb"], f"hugetlb.{size}.failcnt") or 0},
                               "usage", "max") for size in _page_sizes()}
    else:
        hugetlb = _hugetlb_v2(paths[""]) if "" in paths else {}
    return _document(cpu, cpuset, memory, pids, blkio, hugetlb)


def _cpu_v1(cpu_dir: str | None, acct_dir: str | None) -> dict:
    usage: dict = {"total": 0, "percpu": [], "percpu_kernel": [], "percpu_user": [], "kernel": 0, "user": 0}
    if acct_dir is not None and os.path.isdir(acct_dir):
        ticks = _flat(acct_dir, "cpuacct.stat")
        usage["kernel"] = ticks.get("system", 0) * _NS_PER_TICK
        usage["user"] = ticks.get("user", 0) * _NS_PER_TICK
        usage["total"] = _uint(acct_dir, "cpuacct.usage") or 0
        usage["percpu"] = [int(v) for v in (_text(acct_dir, "cpuacct.usage_percpu") or "").split()]
        for line in (_text(acct_dir, "cpuacct.usage_all") or "").splitlines()[1:]:
            fields = line.split()
            if len(fields) == 3:
                usage["percpu_user"].append(int(fields[1]))
                usage["percpu_kernel"].append(int(fields[2]))
    throttling = {}
    if cpu_dir is not None:
        stat = _flat(cpu_dir, "cpu.stat")
        throttling = {"periods": stat.get("nr_periods", 0), "throttledPeriods": stat.get("nr_throttled", 0),
                      "throttledTime": stat.get("throttled_time", 0)}
    return {"usage": _omit(usage, "total", "percpu", "percpu_kernel", "percpu_user"),
            "throttling": _omit(throttling, "periods", "throttledPeriods", "throttledTime")}


def _cpu_list(text: str | None) -> list[int]:
    out: list[int] = []
    for part in (text or "").strip().split(","):
        if part:
            low, _, high = part.partition("-")
            out.extend(range(int(low), int(high or low) + 1))
    return out


def _cpuset_v1(directory: str | None) -> dict:
    d = directory or ""

    def number(name: str) -> int:
        return _uint(d, f"cpuset.{name}") or 0 if directory else 0

    relax = (_text(d, "cpuset.sched_relax_domain_level") or "0").strip() if directory else "0"
    doc = {"cpus": _cpu_list(_text(d, "cpuset.cpus")) if directory else [], "cpu_exclusive": number("cpu_exclusive"),
           "mems": _cpu_list(_text(d, "cpuset.mems")) if directory else [], "mem_hardwall": number("mem_hardwall"),
           "mem_exclusive": number("mem_exclusive"), "memory_migrate": number("memory_migrate"),
           "memory_spread_page": number("memory_spread_page"), "memory_spread_slab": number("memory_spread_slab"),
           "memory_pressure": number("memory_pressure"), "sched_load_balance": number("sched_load_balance"),
           "sched_relax_domain_level": int(relax)}
    return _omit(doc, "cpus", "mems")


def _memory_v1(directory: str) -> dict:
    def entry(prefix: str) -> dict:
        return _memory_entry(_uint(directory, f"{prefix}.usage_in_bytes") or 0,
                             _uint(directory, f"{prefix}.limit_in_bytes") or 0,
                             _uint(directory, f"{prefix}.max_usage_in_bytes") or 0,
                             _uint(directory, f"{prefix}.failcnt") or 0)

    raw = _flat(directory, "memory.stat")
    doc = {"cache": raw.get("cache", 0), "usage": entry("memory"), "swap": entry("memory.memsw"),
           "kernel": entry("memory.kmem"), "kernelTCP": entry("memory.kmem.tcp"), "raw": dict(sorted(raw.items()))}
    return _omit(doc, "cache", "raw")


#: blkio stat files and runc's names for them, in the order runc's JSON lists them.
_RECURSIVE = {"io_service_bytes_recursive": "ioServiceBytesRecursive", "io_serviced_recursive": "ioServicedRecursive",
              "io_queued_recursive": "ioQueueRecursive", "io_service_time_recursive": "ioServiceTimeRecursive",
              "io_wait_time_recursive": "ioWaitTimeRecursive", "io_merged_recursive": "ioMergedRecursive",
              "time_recursive": "ioTimeRecursive", "sectors_recursive": "sectorsRecursive"}
_SERVED = {"io_service_bytes_recursive": "ioServiceBytesRecursive", "io_serviced_recursive": "ioServicedRecursive"}
#: runc's order of sources: BFQ with debug files, BFQ, CFQ, throttling (recursive, then not);
#: the first whose first file has entries wins.
_BLKIO_SOURCES = (("blkio.bfq.", "sectors_recursive", _RECURSIVE),
                  ("blkio.bfq.", "io_serviced_recursive", _SERVED),
                  ("blkio.", "sectors_recursive", _RECURSIVE),
                  ("blkio.throttle.", "io_serviced_recursive", _SERVED),
                  ("blkio.throttle.", "io_serviced", {"io_service_bytes": "ioServiceBytesRecursive",
                                                      "io_serviced": "ioServicedRecursive"}))


def _blkio_entries(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        fields = line.replace(":", " ").split()
        if len(fields) == 4:
            entry = {"major": int(fields[0]), "minor": int(fields[1]), "op": fields[2], "value": int(fields[3])}
        elif len(fields) == 3:
            entry = {"major": int(fields[0]), "minor": int(fields[1]), "value": int(fields[2])}
        else:
            continue
        out.append(_omit(entry, "major", "minor", "op", "value"))
    return out


def _blkio_v1(directory: str) -> dict:
    for prefix, first, files in _BLKIO_SOURCES:
        if not _blkio_entries(_text(directory, prefix + first) or ""):
            continue
        doc = {}
        for name, key in files.items():
            entries = _blkio_entries(_text(directory, prefix + name) or "")
            if entries:
                doc[key] = entries
        return doc
    return {}


# --- cgroup v2 -----------------------------------------------------------------------------------


def v2_stats(directory: str) -> dict:
    stat = _flat(directory, "cpu.stat")
    usage = {"total": stat.get("usage_usec", 0) * 1000, "kernel": stat.get("system_usec", 0) * 1000,
             "user": stat.get("user_usec", 0) * 1000}
    throttling = {"periods": stat.get("nr_periods", 0), "throttledPeriods": stat.get("nr_throttled", 0),
                  "throttledTime": stat.get("throttled_usec", 0) * 1000}
    cpu = {"usage": _omit(usage, "total"), "throttling": _omit(throttling, *throttling)}
    return _document(cpu, _cpuset_v1(None), _memory_v2(directory), _pids_v2(directory), _io_v2(directory),
                     _hugetlb_v2(directory))


def _pids_v2(directory: str) -> dict:
    current = _uint(directory, "pids.current")
    if current is None:  # no pids controller: count the processes
        return {"current": len((_text(directory, "cgroup.procs") or "").split()), "limit": 0}
    limit = _uint(directory, "pids.max") or 0
    return {"current": current, "limit": 0 if limit == _MAX else limit}


def _memory_v2(directory: str) -> dict:
    usage = _uint(directory, "memory.current")
    if usage is None:
        return _no_memory()
    raw = _flat(directory, "memory.stat")
    limit = _uint(directory, "memory.max") or 0
    swap_usage = (_uint(directory, "memory.swap.current") or 0) + usage
    swap_limit = _uint(directory, "memory.swap.max") or 0
    if swap_limit != _MAX:
        swap_limit = min(swap_limit + limit, _MAX)
    doc = {"cache": raw.get("file", 0), "usage": _memory_entry(usage, limit),
           "swap": _memory_entry(swap_usage, swap_limit), "kernel": _memory_entry(),
           "kernelTCP": _memory_entry(), "raw": dict(sorted(raw.items()))}
    return _omit(doc, "cache", "raw")


def _io_v2(directory: str) -> dict:
    served: list[dict] = []
    serviced: list[dict] = []
    for line in (_text(directory, "io.stat") or "").splitlines():
        if not line.strip():
            continue
        device, *pairs = line.split()
        major, _, minor = device.partition(":")
        for pair in pairs:
            key, _, value = pair.partition("=")
            target = {"rbytes": served, "wbytes": served, "rios": serviced, "wios": serviced}.get(key)
            if target is not None:
                op = "Read" if key[0] == "r" else "Write"
                target.append(_omit({"major": int(major), "minor": int(minor), "op": op, "value": int(value)},
                                    "major", "minor", "op", "value"))
    return _omit({"ioServiceBytesRecursive": served, "ioServicedRecursive": serviced},
                 "ioServiceBytesRecursive", "ioServicedRecursive")


def _hugetlb_v2(directory: str) -> dict:
    out = {}
    for size in _page_sizes():
        usage = _uint(directory, f"hugetlb.{size}.current")
        if usage is None:
            continue
        events = _flat(directory, f"hugetlb.{size}.events")
        out[size] = _omit({"usage": usage, "failcnt": events.get("max", 0)}, "usage")
    return out
