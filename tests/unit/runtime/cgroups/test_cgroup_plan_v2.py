"""Planning on cgroup v2 hosts: runc's conversions, controller enabling, raw unified files."""

import pytest

from boxen.common.errors import InvalidArgument, Unimplemented
from boxen.oci.runtime import (
    LinuxBlockIO,
    LinuxCPU,
    LinuxHugepageLimit,
    LinuxMemory,
    LinuxNetwork,
    LinuxPids,
    LinuxRdma,
    LinuxResources,
    LinuxThrottleDevice,
)
from boxen.runtime.cgroups import DeviceFilter
from boxen.runtime.cgroups.convert import cpu_weight, io_weight, swap_max

ALL_CONTROLLERS = "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc"


def files(manager, resources):
    """The plan's limit writes (no enabling, no device filter) as (file name, value)."""
    return [(w.path.rsplit("/", 1)[-1], w.value) for w in manager.plan(resources)
            if not isinstance(w, DeviceFilter) and not w.path.endswith("cgroup.subtree_control")]


@pytest.mark.parametrize("shares, weight", [(2, 1), (1024, 39), (512, 20), (262144, 10000)])
def test_cpu_shares_to_weight_like_runc(shares, weight):
    assert cpu_weight(shares) == weight


@pytest.mark.parametrize("blkio, io", [(10, 1), (500, 4950), (1000, 10000)])
def test_blkio_weight_to_io_weight_like_runc(blkio, io):
    assert io_weight(blkio) == io


@pytest.mark.parametrize("swap, limit, result", [
    (200, 100, 100), (100, 100, 0), (-1, 100, -1), (0, -1, -1), (0, 100, None), (0, None, None), (-1, None, -1),
])
def test_memory_swap_is_memory_plus_swap_in_the_spec(swap, limit, result):
    assert swap_max(swap, limit) == result


def test_first_the_controllers_are_enabled_on_the_way_down_then_the_device_filter(v2_host):
    plan = v2_host.manager("/boxen/ctr").plan(None)
    assert [(w.path, w.value) for w in plan[:2]] == [
        (v2_host.path("cgroup.subtree_control"), ALL_CONTROLLERS),
        (v2_host.path("boxen", "cgroup.subtree_control"), ALL_CONTROLLERS)]
    assert isinstance(plan[2], DeviceFilter) and plan[2].path == v2_host.path("boxen", "ctr")
    assert len(plan) == 3


def test_memory(v2_host):
    r = LinuxResources(memory=LinuxMemory(limit=100 << 20, swap=300 << 20, reservation=50 << 20,
                                          swappiness=10, disableOOMKiller=True, kernelTCP=1))
    assert files(v2_host.manager(), r) == [("memory.swap.max", str(200 << 20)), ("memory.max", str(100 << 20)),
                                           ("memory.low", str(50 << 20))]


def test_unlimited_memory_is_max_and_unlimits_swap(v2_host):
    assert files(v2_host.manager(), LinuxResources(memory=LinuxMemory(limit=-1))) == [
        ("memory.swap.max", "max"), ("memory.max", "max")]


def test_swap_below_the_limit_names_the_field(v2_host):
    with pytest.raises(InvalidArgument) as err:
        v2_host.manager().plan(LinuxResources(memory=LinuxMemory(limit=100, swap=50)))
    assert err.value.field == "linux.resources.memory.swap"


def test_an_update_of_swap_alone_uses_the_current_limit(make_host, fake_kernel):
    host = make_host("v2")
    fake_kernel(host)
    manager = host.manager()
    manager.create()
    with open(host.path("boxen", "ctr", "memory.max"), "w") as f:
        f.write(f"{100 << 20}\n")
    assert files(manager, LinuxResources(memory=LinuxMemory(swap=150 << 20))) == [("memory.swap.max", str(50 << 20))]


@pytest.mark.parametrize("cpu, expected", [
    (LinuxCPU(shares=1024), [("cpu.weight", "39")]),
    (LinuxCPU(quota=50000), [("cpu.max", "50000 100000")]),
    (LinuxCPU(quota=50000, period=200000), [("cpu.max", "50000 200000")]),
    (LinuxCPU(period=50000), [("cpu.max", "max 50000")]),
    (LinuxCPU(quota=-1, period=50000), [("cpu.max", "max 50000")]),
    (LinuxCPU(idle=1, burst=1000, quota=20000), [("cpu.idle", "1"), ("cpu.max.burst", "1000"),
                                                 ("cpu.max", "20000 100000")]),
    (LinuxCPU(realtimeRuntime=1000, realtimePeriod=10000), []),
    (LinuxCPU(cpus="0-1", mems="0"), [("cpuset.cpus", "0-1"), ("cpuset.mems", "0")]),
])
def test_cpu(v2_host, cpu, expected):
    assert files(v2_host.manager(), LinuxResources(cpu=cpu)) == expected


@pytest.mark.parametrize("limit, value", [(64, "64"), (0, "max"), (-1, "max")])
def test_pids(v2_host, limit, value):
    assert files(v2_host.manager(), LinuxResources(pids=LinuxPids(limit))) == [("pids.max", value)]


def test_io_without_bfq_converts_the_weight(v2_host):
    r = LinuxResources(blockIO=LinuxBlockIO(weight=500, throttleReadBpsDevice=(LinuxThrottleDevice(8, 0, 1024),),
                                            throttleWriteIOPSDevice=(LinuxThrottleDevice(8, 0, 10),)))
    assert files(v2_host.manager(), r) == [("io.weight", "4950"), ("io.max", "8:0 rbps=1024"),
                                           ("io.max", "8:0 wiops=10")]


def test_io_with_bfq_keeps_the_v1_scale(make_host, fake_kernel):
    host = make_host("v2")
    fake_kernel(host)
    manager = host.manager()
    manager.create()
    with open(host.path("boxen", "ctr", "io.bfq.weight"), "w") as f:
        f.write("default 100\n")
    assert files(manager, LinuxResources(blockIO=LinuxBlockIO(weight=500))) == [("io.bfq.weight", "500")]


def test_hugetlb_and_rdma(v2_host):
    r = LinuxResources(hugepageLimits=(LinuxHugepageLimit("2MB", 1 << 21),),
                       rdma={"mlx5_1": LinuxRdma(hcaObjects=7), "mlx5_0": LinuxRdma(hcaHandles=3, hcaObjects=9)})
    assert files(v2_host.manager(), r) == [("hugetlb.2MB.max", str(1 << 21)),
                                           ("rdma.max", "mlx5_0 hca_handle=3 hca_object=9"),
                                           ("rdma.max", "mlx5_1 hca_object=7")]


def test_settings_v2_has_no_file_for_are_ignored_like_runc(v2_host):
    r = LinuxResources(network=LinuxNetwork(classID=1), memory=LinuxMemory(swappiness=5, kernel=1))
    assert files(v2_host.manager(), r) == []


def test_a_missing_controller_is_named(make_host):
    host = make_host("v2")
    with open(host.path("cgroup.controllers"), "w") as f:
        f.write("hugetlb\n")
    with pytest.raises(Unimplemented, match="the memory controller is not available") as err:
        host.manager().plan(LinuxResources(memory=LinuxMemory(limit=1 << 20)))
    assert err.value.field == "linux.resources.memory"
    with pytest.raises(Unimplemented, match="pids controller"):
        host.manager().plan(LinuxResources(pids=LinuxPids(5)))


def test_unified_files(v2_host):
    r = LinuxResources(unified={"memory.high": "50M", "cgroup.max.descendants": "10", "pids.max": "7"})
    assert files(v2_host.manager(), r) == [("cgroup.max.descendants", "10"), ("memory.high", "50M"),
                                           ("pids.max", "7")]


@pytest.mark.parametrize("key, message", [
    ("../memory.max", "not a cgroup file name"),
    ("memory.high/x", "not a cgroup file name"),
    ("..", "not a cgroup file name"),
    ("memoryhigh", "not a cgroup file name"),
    (".high", "not a cgroup file name"),
    ("net_cls.classid", "net_cls controller is not available"),
])
def test_unified_keys_are_checked(v2_host, key, message):
    with pytest.raises(InvalidArgument, match=message) as err:
        v2_host.manager().plan(LinuxResources(unified={key: "1"}))
    assert err.value.field == f"linux.resources.unified[{key!r}]"


def test_update_without_devices_keeps_the_device_filter(make_host, fake_kernel, monkeypatch):
    host = make_host("v2")
    fake_kernel(host)
    manager = host.manager()
    manager.create()
    done = []
    monkeypatch.setattr("boxen.runtime.cgroups.manager.perform", lambda writes: done.extend(writes))
    manager.update(LinuxResources(pids=LinuxPids(9)))
    assert not any(isinstance(w, DeviceFilter) for w in done)
    assert done[-1].path.endswith("pids.max") and done[-1].value == "9"
