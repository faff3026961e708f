"""update: change the cgroup limits of a running container."""

import sys

from boxen.common import jsonio
from boxen.common.errors import InvalidArgument
from boxen.common.flags import Flag
from boxen.runtime.cli import check_args

USAGE = "update [command options] <container-id>"
FLAGS = (
    Flag("resources,r", "str", help="path to the file containing the resources to update or '-' to read from stdin"),
    Flag("blkio-weight", "str", help="specifies per cgroup weight, range is from 10 to 1000"),
    Flag("cpu-period", "str", help="CPU CFS period to be used for hardcapping (in usecs)"),
    Flag("cpu-quota", "str", help="CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period"),
    Flag("cpu-share", "str", help="CPU shares (relative weight vs. other containers)"),
    Flag("cpu-rt-period", "str", help="CPU realtime period to be used for hardcapping (in usecs)"),
    Flag("cpu-rt-runtime", "str", help="CPU realtime hardcap limit (in usecs)"),
    Flag("cpuset-cpus", "str", help="CPU(s) to use"),
    Flag("cpuset-mems", "str", help="memory node(s) to use"),
    Flag("kernel-memory", "str", help="kernel memory limit (deprecated, ignored)"),
    Flag("kernel-memory-tcp", "str", help="kernel memory limit for tcp buffer"),
    Flag("memory", "str", help="memory limit (in bytes, or with a unit suffix: 100m)"),
    Flag("memory-reservation", "str", help="memory reservation or soft_limit"),
    Flag("memory-swap", "str", help="total memory usage (memory + swap); set '-1' to enable unlimited swap"),
    Flag("pids-limit", "str", help="maximum number of pids allowed in the container"),
    Flag("l3-cache-schema", "str", help="the string of Intel RDT/CAT L3 cache schema"),
    Flag("mem-bw-schema", "str", help="the string of Intel RDT/MBA memory bandwidth schema"),
    Flag("help,h", help="show help"),
)

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str, field: str) -> int:
    """docker/go-units RAMInBytes: 100m, 1g, 512k (binary units), or -1."""
    value = text.strip().lower()
    if value == "-1":
        return -1
    if value.endswith("ib") or (value.endswith("b") and len(value) > 1 and value[-2] in "kmgtp"):
        value = value[:-2] if value.endswith("ib") else value[:-1]
    digits = value.rstrip("bkmgtp")
    unit = value[len(digits):]
    try:
        number = float(digits)
    except ValueError:
        raise InvalidArgument(f"invalid size {text!r}", field=field) from None
    if unit not in _UNITS or number < 0:
        raise InvalidArgument(f"invalid size {text!r}", field=field)
    return int(number * _UNITS[unit])


def _int(text: str, field: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f"{text!r} is not an integer", field=field) from None


def resources_from(opts: dict) -> dict:
    """A linux.resources document: the --resources file, or the flags that were given."""
    if opts["resources"]:
        if opts["resources"] == "-":
            text = sys.stdin.buffer.read()
        else:
            try:
                with open(opts["resources"], "rb") as f:
                    text = f.read()
            except OSError as exc:
                raise InvalidArgument(f"cannot read {opts['resources']}: {exc.strerror}", field="--resources") from None
        data = jsonio.loads(text, source="--resources")
        if not isinstance(data, dict):
            raise InvalidArgument("expected a JSON object of linux.resources", field="--resources")
        return data
    r: dict = {}
    cpu: dict = {}
    memory: dict = {}
    for flag, key in (("cpu_period", "period"), ("cpu_quota", "quota"), ("cpu_share", "shares"),
                      ("cpu_rt_period", "realtimePeriod"), ("cpu_rt_runtime", "realtimeRuntime")):
        if opts[flag]:
            cpu[key] = _int(opts[flag], "--" + flag.replace("_", "-"))
    for flag, key in (("cpuset_cpus", "cpus"), ("cpuset_mems", "mems")):
        if opts[flag]:
            cpu[key] = opts[flag]
    for flag, key in (("memory", "limit"), ("memory_reservation", "reservation"), ("memory_swap", "swap"),
                      ("kernel_memory", "kernel"), ("kernel_memory_tcp", "kernelTCP")):
        if opts[flag]:
            memory[key] = ram_in_bytes(opts[flag], "--" + flag.replace("_", "-"))
    if cpu:
        r["cpu"] = cpu
    if memory:
        r["memory"] = memory
    if opts["pids_limit"]:
        r["pids"] = {"limit": _int(opts["pids_limit"], "--pids-limit")}
    if opts["blkio_weight"]:
        r["blockIO"] = {"weight": _int(opts["blkio_weight"], "--blkio-weight")}
    if opts["l3_cache_schema"] or opts["mem_bw_schema"]:
        from boxen.common.errors import Unimplemented

        raise Unimplemented("this host has no Intel RDT", field="--l3-cache-schema")
    return r


def run(g, opts, args) -> int:
    check_args("update", args, exactly=1)
    from boxen.common.schema import from_json
    from boxen.oci.runtime import LinuxResources

    resources = from_json(LinuxResources, resources_from(opts), "linux.resources")
    g.runtime().update(args[0], resources)
    return 0
