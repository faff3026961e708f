"""Planning on cgroup v1 (and hybrid) hosts: which files get which values, in which order."""

import pytest

from boxen.common.errors import InvalidArgument, Unimplemented
from boxen.oci.runtime import (
    LinuxBlockIO,
    LinuxCPU,
    LinuxHugepageLimit,
    LinuxInterfacePriority,
    LinuxMemory,
    LinuxNetwork,
    LinuxPids,
    LinuxRdma,
    LinuxResources,
    LinuxThrottleDevice,
    LinuxWeightDevice,
)


def files(manager, resources):
    return [(w.path.rsplit("/", 1)[-1], w.value) for w in manager.plan(resources) if "/devices/" not in w.path]


def test_no_resources_still_sets_device_rules(host):
    plan = host.manager().plan(None)
    assert plan[0].path == host.path("devices", "boxen", "ctr", "devices.deny")
    assert all("/devices/" in w.path for w in plan)
    assert all(w.what for w in plan)


def test_memory_limit_then_swap_on_a_fresh_cgroup(host):
    r = LinuxResources(memory=LinuxMemory(limit=100 << 20, swap=200 << 20, reservation=50 << 20,
                                          swappiness=10, disableOOMKiller=True, kernelTCP=10 << 20))
    assert files(host.manager(), r) == [
        ("memory.limit_in_bytes", str(100 << 20)),
        ("memory.memsw.limit_in_bytes", str(200 << 20)),
        ("memory.soft_limit_in_bytes", str(50 << 20)),
        ("memory.kmem.tcp.limit_in_bytes", str(10 << 20)),
        ("memory.oom_control", "1"),
        ("memory.swappiness", "10"),
    ]


def test_raising_memory_and_swap_writes_swap_first(make_host, fake_kernel):
    host = make_host()
    fake_kernel(host)
    manager = host.manager()
    manager.create()
    with open(host.path("memory", "boxen", "ctr", "memory.limit_in_bytes"), "w") as f:
        f.write(f"{50 << 20}\n")
    r = LinuxResources(memory=LinuxMemory(limit=100 << 20, swap=200 << 20))
    assert files(manager, r) == [("memory.memsw.limit_in_bytes", str(200 << 20)),
                                 ("memory.limit_in_bytes", str(100 << 20))]


def test_unlimited_memory_makes_swap_unlimited_first(host):
    assert files(host.manager(), LinuxResources(memory=LinuxMemory(limit=-1))) == [
        ("memory.memsw.limit_in_bytes", "-1"), ("memory.limit_in_bytes", "-1")]


def test_unlimited_memory_without_swap_accounting_leaves_swap_alone(make_host):
    host = make_host(memsw=False)
    assert files(host.manager(), LinuxResources(memory=LinuxMemory(limit=-1))) == [("memory.limit_in_bytes", "-1")]


def test_swap_without_swap_accounting_is_a_clear_error(make_host):
    host = make_host(memsw=False)
    with pytest.raises(Unimplemented, match="swap accounting") as err:
        host.manager().plan(LinuxResources(memory=LinuxMemory(limit=1 << 20, swap=2 << 20)))
    assert err.value.field == "linux.resources.memory.swap"


@pytest.mark.parametrize("memory, message", [
    (LinuxMemory(limit=200 << 20, swap=100 << 20), "below the memory limit"),
    (LinuxMemory(swap=100 << 20), "without a memory limit"),
    (LinuxMemory(limit=-1, swap=100 << 20), "without a memory limit"),
])
def test_impossible_swap_names_the_field(host, memory, message):
    with pytest.raises(InvalidArgument, match=message) as err:
        host.manager().plan(LinuxResources(memory=memory))
    assert err.value.field == "linux.resources.memory.swap"


def test_kernel_tcp_is_skipped_when_the_kernel_lacks_it_and_kernel_memory_is_ignored(make_host):
    host = make_host(kmem_tcp=False)
    assert files(host.manager(), LinuxResources(memory=LinuxMemory(kernel=1 << 20, kernelTCP=1 << 20))) == []


@pytest.mark.parametrize("memory, field", [
    (LinuxMemory(limit=-2), "linux.resources.memory.limit"),
    (LinuxMemory(swappiness=101), "linux.resources.memory.swappiness"),
])
def test_bad_memory_values(host, memory, field):
    with pytest.raises(InvalidArgument) as err:
        host.manager().plan(LinuxResources(memory=memory))
    assert err.value.field == field


def test_cpu(host):
    r = LinuxResources(cpu=LinuxCPU(shares=512, quota=50000, period=100000, burst=1000, idle=0,
                                    realtimePeriod=1000000, realtimeRuntime=0, cpus="0", mems="0"))
    assert files(host.manager(), r) == [
        ("cpuset.cpus", "0"), ("cpuset.mems", "0"),
        ("cpu.shares", "512"), ("cpu.cfs_period_us", "100000"), ("cpu.cfs_burst_us", "1000"),
        ("cpu.cfs_quota_us", "50000"), ("cpu.idle", "0"), ("cpu.rt_period_us", "1000000"),
    ]


@pytest.mark.parametrize("cpu, field, message", [
    (LinuxCPU(shares=1), "shares", "minimum allowed cpu-shares is 2"),
    (LinuxCPU(shares=300000), "shares", "maximum allowed cpu-shares is 262144"),
    (LinuxCPU(quota=999), "quota", "below 1000"),
    (LinuxCPU(period=999), "period", "outside 1000-1000000"),
    (LinuxCPU(idle=2), "idle", "0 or 1"),
    (LinuxCPU(cpus="0-x"), "cpus", "0-3,6"),
    (LinuxCPU(mems="3-1"), "mems", "0-3,6"),
])
def test_bad_cpu_values(host, cpu, field, message):
    with pytest.raises(InvalidArgument, match=message) as err:
        host.manager().plan(LinuxResources(cpu=cpu))
    assert err.value.field == "linux.resources.cpu." + field


@pytest.mark.parametrize("limit, value", [(64, "64"), (0, "max"), (-1, "max")])
def test_pids(host, limit, value):
    assert files(host.manager(), LinuxResources(pids=LinuxPids(limit))) == [("pids.max", value)]


def test_blkio_with_bfq(host):
    r = LinuxResources(blockIO=LinuxBlockIO(
        weight=300, weightDevice=(LinuxWeightDevice(8, 0, weight=200),),
        throttleReadBpsDevice=(LinuxThrottleDevice(8, 0, 1 << 20),),
        throttleWriteIOPSDevice=(LinuxThrottleDevice(8, 16, 100),)))
    assert files(host.manager(), r) == [
        ("blkio.bfq.weight", "300"), ("blkio.bfq.weight_device", "8:0 200"),
        ("blkio.throttle.read_bps_device", f"8:0 {1 << 20}"), ("blkio.throttle.write_iops_device", "8:16 100")]


def test_blkio_with_cfq(make_host):
    host = make_host(cfq=True)
    assert files(host.manager(), LinuxResources(blockIO=LinuxBlockIO(weight=300, leafWeight=200))) == [
        ("blkio.weight", "300"), ("blkio.leaf_weight", "200")]


def test_hugetlb_goes_to_cgroup2_on_a_hybrid_host(host):
    r = LinuxResources(hugepageLimits=(LinuxHugepageLimit("2MB", 4 << 20),))
    plan = host.manager().plan(r)
    tail = [(w.path, w.value) for w in plan if "/devices/" not in w.path]
    assert tail == [
        (host.path("unified", "cgroup.subtree_control"), "+hugetlb"),
        (host.path("unified", "boxen", "cgroup.subtree_control"), "+hugetlb"),
        (host.path("unified", "boxen", "ctr", "hugetlb.2MB.max"), str(4 << 20)),
    ]


def test_hugetlb_enabling_writes_only_what_is_missing(make_host):
    host = make_host()
    with open(host.path("unified", "cgroup.subtree_control"), "w") as f:
        f.write("hugetlb\n")
    plan = host.manager().plan(LinuxResources(hugepageLimits=(LinuxHugepageLimit("1GB", 1 << 30),)))
    assert [w.path for w in plan if "subtree_control" in w.path] == [
        host.path("unified", "boxen", "cgroup.subtree_control")]


def test_hugetlb_on_pure_v1_without_the_controller_is_refused(v1_host):
    with pytest.raises(Unimplemented, match="hugetlb controller is not mounted") as err:
        v1_host.manager().plan(LinuxResources(hugepageLimits=(LinuxHugepageLimit("2MB", 1),)))
    assert err.value.field == "linux.resources.hugepageLimits"


def test_page_size_is_checked(host):
    with pytest.raises(InvalidArgument) as err:
        host.manager().plan(LinuxResources(hugepageLimits=(LinuxHugepageLimit("2M/..", 1),)))
    assert err.value.field == "linux.resources.hugepageLimits[0].pageSize"


def test_network_needs_its_controllers(host):
    with pytest.raises(Unimplemented, match="net_cls") as err:
        host.manager().plan(LinuxResources(network=LinuxNetwork(classID=0x100001)))
    assert err.value.field == "linux.resources.network.classID"
    with pytest.raises(Unimplemented, match="net_prio"):
        host.manager().plan(LinuxResources(network=LinuxNetwork(priorities=(LinuxInterfacePriority("eth0", 5),))))


def test_rdma_needs_its_controller(host):
    with pytest.raises(Unimplemented, match="rdma"):
        host.manager().plan(LinuxResources(rdma={"mlx5_0": LinuxRdma(hcaHandles=3)}))


def test_unified_is_refused_on_pure_v1(v1_host):
    with pytest.raises(InvalidArgument, match="needs cgroup v2") as err:
        v1_host.manager().plan(LinuxResources(unified={"hugetlb.2MB.max": "1"}))
    assert err.value.field == "linux.resources.unified"


def test_unified_on_a_hybrid_host_takes_only_cgroup2_controllers(host):
    plan = host.manager().plan(LinuxResources(unified={"hugetlb.2MB.max": "4194304", "cgroup.max.depth": "3"}))
    assert [(w.path, w.value) for w in plan if "/unified/" in w.path] == [
        (host.path("unified", "boxen", "ctr", "cgroup.max.depth"), "3"),
        (host.path("unified", "boxen", "ctr", "hugetlb.2MB.max"), "4194304")]
    with pytest.raises(InvalidArgument, match="memory controller is not available") as err:
        host.manager().plan(LinuxResources(unified={"memory.high": "1"}))
    assert err.value.field == "linux.resources.unified['memory.high']"


def test_relative_path_is_under_our_own_cgroup(host):
    manager = host.manager(None, "c9", proc_cgroup="5:memory:/mine\n3:devices:/\n0::/\n")
    assert manager.paths["memory"] == host.path("memory", "mine", "c9")
