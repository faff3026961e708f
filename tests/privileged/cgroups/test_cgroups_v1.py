"""The v1 manager on this host's real hierarchies (v1 controllers plus the hybrid cgroup2 mount).

Each test opens a manager for ``/boxen-test-<pid>/<test>``, creates and configures it, starts
processes that join it the way the runtime's init does (``join(0)`` in the child before
``exec``), and checks what the kernel reports: ``/proc/<pid>/cgroup``, the cgroup files, and
whether limits hold. The ``scope`` fixture removes everything afterwards.
"""

from __future__ import annotations

import errno
import os
import shutil

import pytest

from boxen.common.errors import InvalidArgument, KernelError
from boxen.oci.runtime import (
    LinuxBlockIO,
    LinuxCPU,
    LinuxDeviceCgroup,
    LinuxHugepageLimit,
    LinuxMemory,
    LinuxPids,
    LinuxResources,
)
from boxen.runtime.cgroups import V1Manager, open_manager, reopen

ROOT = "/sys/fs/cgroup"
MiB = 1 << 20
SLEEP = ["sleep", "600"]


def _proc_cgroup(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                out[c] = path
    return out


def _read(manager, controller: str, name: str) -> str:
    with open(os.path.join(manager.paths[controller], name)) as f:
        return f.read().strip()


def _host_has(scope, controller: str, name: str) -> bool:
    """Does a cgroup of this host's ``controller`` hierarchy offer the file ``name``?

    Some files exist only with a kernel feature or a disk's I/O scheduler: memory.memsw.* with
    swap accounting, blkio.bfq.weight with BFQ, blkio.weight with CFQ (gone since Linux 5.0).
    Peers fail without them too, so a test leaves such a setting out, or skips, saying why.
    The test's parent cgroup (made by the ``cgroup_parent`` fixture) is asked, not the root,
    which lacks some files every other cgroup has.
    """
    return os.path.exists(os.path.join(ROOT, controller, os.path.dirname(scope.path).lstrip("/"), name))


def _require(scope, controller: str, name: str, why: str) -> None:
    if not _host_has(scope, controller, name):
        pytest.skip(f"this host's {controller} cgroups have no {name} ({why})")


NO_SWAP_ACCOUNTING = "no swap accounting: swapaccount=0 or a kernel without CONFIG_MEMCG_SWAP"


def _manager(scope, resources=None, devices=()):
    manager = open_manager(scope.path, scope.name)
    assert isinstance(manager, V1Manager)
    writes = manager.plan(resources, devices)
    manager.create()
    manager.apply(writes)
    return manager


def test_container_joins_every_hierarchy_with_its_limits(scope):
    memsw = _host_has(scope, "memory", "memory.memsw.limit_in_bytes")
    resources = LinuxResources(memory=LinuxMemory(limit=64 * MiB, reservation=32 * MiB,
                                                  swap=128 * MiB if memsw else None,
                                                  swappiness=10, disableOOMKiller=False),
                               cpu=LinuxCPU(shares=512, quota=50000, period=100000, cpus="0", mems="0"),
                               pids=LinuxPids(64))
    manager = _manager(scope, resources)
    child = scope.spawn(SLEEP, join=manager)
    paths = _proc_cgroup(child.pid)
    for controller in ("cpuset", "cpu", "cpuacct", "memory", "devices", "freezer", "blkio", "pids", "name=systemd",
                       ""):
        assert paths[controller] == scope.path, controller
    assert _read(manager, "memory", "memory.limit_in_bytes") == str(64 * MiB)
    if memsw:
        assert _read(manager, "memory", "memory.memsw.limit_in_bytes") == str(128 * MiB)
    assert _read(manager, "memory", "memory.soft_limit_in_bytes") == str(32 * MiB)
    assert _read(manager, "memory", "memory.swappiness") == "10"
    assert _read(manager, "cpu", "cpu.shares") == "512"
    assert _read(manager, "cpu", "cpu.cfs_quota_us") == "50000"
    assert _read(manager, "cpuset", "cpuset.cpus") == "0"
    assert _read(manager, "pids", "pids.max") == "64"
    assert manager.pids() == [child.pid]


def test_runc_default_device_rules_in_the_listed_order(scope):
    # runc's rules; written in the order they are listed (the spec: "apply entries in the listed
    # order"), which devices.list shows (runc's own emulator writes them sorted).
    manager = _manager(scope)
    assert _read(manager, "devices", "devices.list").splitlines() == [
        "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm",
        "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm"]


OPEN = """
import os, sys
for path, mode in (("/dev/null", os.O_RDWR), ("/dev/kmsg", os.O_RDONLY), ("/dev/kmsg", os.O_WRONLY)):
    try:
        os.close(os.open(path, mode))
        print(path, mode, "ok")
    except OSError as exc:
        print(path, mode, exc.errno)
"""


def test_device_rules_are_enforced(scope):
    # /dev/kmsg is c 1:11: allowed for reading only.
    rule = LinuxDeviceCgroup(allow=True, type="c", major=1, minor=11, access="r")
    manager = _manager(scope, LinuxResources(devices=(LinuxDeviceCgroup(allow=False, access="rwm"), rule)))
    result = scope.python(OPEN, join=manager)
    assert result.stdout.split("\n")[:3] == [f"/dev/null {os.O_RDWR} ok", f"/dev/kmsg {os.O_RDONLY} ok",
                                             f"/dev/kmsg {os.O_WRONLY} {errno.EPERM}"], result.stderr


FORK = """
import os, signal
kids = []
try:
    while len(kids) < 20:
        pid = os.fork()
        if pid == 0:
            signal.pause()
            os._exit(0)
        kids.append(pid)
except OSError as exc:
    print("refused after", len(kids), exc.errno)
for pid in kids:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
"""


def test_pids_limit_is_enforced(scope):
    manager = _manager(scope, LinuxResources(pids=LinuxPids(4)))
    result = scope.python(FORK, join=manager)
    assert result.stdout.strip() == f"refused after 3 {errno.EAGAIN}", result.stdout + result.stderr


def test_memory_limit_is_enforced(scope):
    manager = _manager(scope, LinuxResources(memory=LinuxMemory(limit=32 * MiB, swap=32 * MiB)))
    result = scope.python("b = bytearray(128 << 20)\nprint('survived')", join=manager)
    assert result.returncode == -9 and "survived" not in result.stdout
    assert "oom_kill 1" in _read(manager, "memory", "memory.oom_control")


def test_freeze_and_thaw(scope):
    manager = _manager(scope)
    child = scope.spawn(SLEEP, join=manager)
    assert not manager.frozen()
    manager.freeze()
    assert manager.frozen() and _read(manager, "freezer", "freezer.state") == "FROZEN"
    manager.thaw()
    assert not manager.frozen()
    child.kill()
    assert child.wait(timeout=10) == -9


def test_stats_shape_matches_runc(scope):
    manager = _manager(scope, LinuxResources(pids=LinuxPids(10), memory=LinuxMemory(limit=64 * MiB)))
    scope.spawn(SLEEP, join=manager)
    stats = manager.stats()
    assert list(stats) == ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"]
    assert stats["pids"] == {"current": 1, "limit": 10}
    assert stats["memory"]["usage"]["limit"] == 64 * MiB and stats["memory"]["usage"]["usage"] > 0
    assert len(stats["cpu"]["usage"]["percpu"]) == os.cpu_count()
    assert stats["cpuset"]["cpus"] == list(range(os.cpu_count()))


def test_update_raises_memory_and_swap_together(scope):
    _require(scope, "memory", "memory.memsw.limit_in_bytes", NO_SWAP_ACCOUNTING)
    manager = _manager(scope, LinuxResources(memory=LinuxMemory(limit=32 * MiB, swap=64 * MiB)))
    reopen(manager.saved()).update(LinuxResources(memory=LinuxMemory(limit=128 * MiB, swap=256 * MiB),
                                                  cpu=LinuxCPU(quota=20000, period=50000)))
    assert _read(manager, "memory", "memory.limit_in_bytes") == str(128 * MiB)
    assert _read(manager, "memory", "memory.memsw.limit_in_bytes") == str(256 * MiB)
    assert _read(manager, "cpu", "cpu.cfs_quota_us") == "20000"
    reopen(manager.saved()).update(LinuxResources(memory=LinuxMemory(limit=16 * MiB, swap=16 * MiB)))
    assert _read(manager, "memory", "memory.limit_in_bytes") == str(16 * MiB)
    assert _read(manager, "memory", "memory.memsw.limit_in_bytes") == str(16 * MiB)


def test_impossible_values_fail_before_anything_is_made(scope):
    manager = open_manager(scope.path, scope.name)
    with pytest.raises(InvalidArgument) as err:
        manager.plan(LinuxResources(memory=LinuxMemory(limit=64 * MiB, swap=32 * MiB)))
    assert err.value.field == "linux.resources.memory.swap"
    assert not any(os.path.exists(p) for p in manager.paths.values())


def test_a_value_the_kernel_refuses_names_file_and_value(scope):
    manager = _manager(scope)
    with pytest.raises(KernelError) as err:
        manager.apply(manager.plan(LinuxResources(cpu=LinuxCPU(cpus="7"))))
    assert "cpuset.cpus" in str(err.value) and "'7'" in str(err.value)


def test_destroy_waits_for_the_processes_and_reports_them(scope):
    manager = _manager(scope)
    child = scope.spawn(SLEEP, join=manager)
    with pytest.raises(KernelError, match="processes are still in it"):
        manager.destroy()
    child.kill()
    child.wait(timeout=10)
    manager.destroy()
    assert not any(os.path.exists(p) for p in manager.paths.values())
    assert all(os.path.isdir(os.path.dirname(p)) for p in manager.paths.values())  # our parent stays


def test_destroy_removes_parents_it_made_and_sub_cgroups(scope):
    manager = open_manager(scope.path + "/deeper/ctr", scope.name)
    manager.create()
    os.mkdir(os.path.join(manager.paths["memory"], "made-inside"))
    again = reopen(manager.saved())
    again.destroy()
    assert not os.path.exists(os.path.join(ROOT, "memory", scope.path.lstrip("/"), "deeper"))


def test_relative_path_is_under_our_own_cgroup(scope):
    own = "".join(f"{i}:{c}:{scope.path}\n" for i, c in enumerate(
        ("cpuset", "devices", "memory", "cpu", "cpuacct", "pids", "blkio", "freezer", "name=systemd"), 1))
    manager = open_manager(None, "ctr", proc_cgroup=own + "0::/\n")
    assert manager.paths["memory"] == f"{ROOT}/memory{scope.path}/ctr"
    assert manager.paths[""] == f"{ROOT}/unified/ctr"  # runc's hybrid quirk: not below our own
    manager.paths.pop("")  # keep the test inside boxen-test-<pid>
    manager.mounts.pop("")
    manager.create()
    child = scope.spawn(SLEEP, join=manager)
    assert _proc_cgroup(child.pid)["memory"] == scope.path + "/ctr"


def test_exec_into_a_sub_cgroup(scope):
    manager = _manager(scope)
    os.mkdir(os.path.join(manager.paths["memory"], "job"))
    child = scope.spawn(SLEEP, join=manager.sub("memory:job"))
    paths = _proc_cgroup(child.pid)
    assert paths["memory"] == scope.path + "/job" and paths["cpu"] == scope.path
    assert child.pid in manager.pids()


def test_hugetlb_limit_on_the_cgroup2_hierarchy(scope):
    with open(os.path.join(ROOT, "unified", "cgroup.subtree_control")) as f:
        if "hugetlb" not in f.read().split():
            pytest.skip("hugetlb is not enabled in /sys/fs/cgroup/unified/cgroup.subtree_control; enabling it "
                        "would change the host's root cgroup, which this test does not do")
    manager = _manager(scope, LinuxResources(hugepageLimits=(LinuxHugepageLimit("2MB", 4 * MiB),)))
    with open(os.path.join(manager.paths[""], "hugetlb.2MB.max")) as f:
        assert f.read().strip() == str(4 * MiB)


def test_blkio_weight_where_the_io_scheduler_weighs(scope):
    weight = next((name for name in ("blkio.bfq.weight", "blkio.weight") if _host_has(scope, "blkio", name)), None)
    if weight is None:
        pytest.skip("this host's blkio cgroups have neither blkio.bfq.weight nor blkio.weight: no disk uses the "
                    "BFQ I/O scheduler (CFQ is gone since Linux 5.0)")
    manager = _manager(scope, LinuxResources(blockIO=LinuxBlockIO(weight=300)))
    assert "300" in _read(manager, "blkio", weight).split()


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")
def test_same_values_as_runc(scope, tmp_path):
    """runc and boxen given the same linux.resources write the same values."""
    import json
    import subprocess

    from boxen.common.schema import from_json
    from support.bundle import base_config, make_bundle

    resources = {"devices": [{"allow": False, "access": "rwm"},
                             {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}],
                 "memory": {"limit": 100 * MiB, "reservation": 50 * MiB, "swappiness": 10, "disableOOMKiller": True},
                 "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
                 "pids": {"limit": 64}}
    compared = [("devices", "devices.list"), ("memory", "memory.limit_in_bytes"),
                ("memory", "memory.soft_limit_in_bytes"), ("memory", "memory.swappiness"),
                ("memory", "memory.oom_control"), ("cpu", "cpu.shares"), ("cpu", "cpu.cfs_quota_us"),
                ("cpu", "cpu.cfs_period_us"), ("cpuset", "cpuset.cpus"), ("cpuset", "cpuset.mems"),
                ("pids", "pids.max")]
    # Settings whose files this host may lack: runc itself fails on them then ("no such file").
    if _host_has(scope, "memory", "memory.memsw.limit_in_bytes"):
        resources["memory"]["swap"] = 200 * MiB
        compared.append(("memory", "memory.memsw.limit_in_bytes"))
    weight = next((name for name in ("blkio.bfq.weight", "blkio.weight") if _host_has(scope, "blkio", name)), None)
    if weight is not None:  # a proportional-weight I/O scheduler (BFQ, or CFQ before Linux 5.0)
        resources["blockIO"] = {"weight": 300}
        compared.append(("blkio", weight))
    runc_path = scope.path + "/runc"
    config = base_config(["sleep", "600"], linux={"cgroupsPath": runc_path, "resources": resources})
    bundle = make_bundle(tmp_path, config)
    root = tmp_path / "runc-root"
    cid = f"boxen-cg-{os.getpid()}"
    log = tmp_path / "runc.log"  # a file, not a pipe: the container's init keeps runc's stdio open
    with open(log, "w") as err:
        run = subprocess.run(["runc", "--root", str(root), "create", "--bundle", str(bundle), cid],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=60,
                             check=False)
    try:
        assert run.returncode == 0, log.read_text()
        state = json.loads(subprocess.run(["runc", "--root", str(root), "state", cid], capture_output=True,
                                          text=True, check=True).stdout)
        assert state["status"] == "created"
        manager = open_manager(scope.path + "/boxen", "boxen")
        manager.create()
        manager.apply(manager.plan(from_json(LinuxResources, resources, "linux.resources")))
        for controller, name in compared:
            with open(os.path.join(ROOT, controller if controller != "name=systemd" else "systemd",
                                   runc_path.lstrip("/"), name)) as f:
                theirs = f.read()
            ours = _read(manager, controller, name)
            if name == "devices.list":  # the same rules; runc lists them sorted, boxen in config order
                assert sorted(ours.splitlines()) == sorted(theirs.strip().splitlines()), name
            else:
                assert ours == theirs.strip(), name
    finally:
        subprocess.run(["runc", "--root", str(root), "delete", "--force", cid], capture_output=True, timeout=60,
                       check=False)
