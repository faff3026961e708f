"""Cgroup resources (``linux.resources``), checked in the container's cgroup files from outside.

A cgroup is a directory in a cgroup filesystem; the processes listed in its ``cgroup.procs`` are
limited and accounted by its controllers' files. On this host every cgroup v1 controller has
its own hierarchy under ``/sys/fs/cgroup/<controller>``. ``linux.cgroupsPath`` names the
container's cgroup in each hierarchy (absolute paths are taken from the hierarchy's root), and
``linux.resources`` become file writes:

* memory: ``limit`` -> ``memory.limit_in_bytes``, ``reservation`` -> ``memory.soft_limit_in_bytes``;
* pids: ``limit`` -> ``pids.max``;
* cpu: ``shares``, ``quota``, ``period`` -> ``cpu.shares``, ``cpu.cfs_quota_us``, ``cpu.cfs_period_us``;
  ``cpus``, ``mems`` -> ``cpuset.cpus``, ``cpuset.mems``;
* blockIO: ``throttleReadBpsDevice`` -> ``blkio.throttle.read_bps_device``, ``weight`` ->
  ``blkio.bfq.weight`` (only with the BFQ I/O scheduler; ``blkio.weight`` with CFQ before 5.0).
"""

from __future__ import annotations

import pytest

from support.bundle import base_config
from support.probe import cgroup_dir, cgroup_file, cgroup_paths

SLEEP = ["sleep", "600"]


def _running(runtime, bundle, cid, resources: dict) -> int:
    linux = base_config()["linux"]
    linux["resources"].update(resources)
    runtime.run(cid, bundle(args=SLEEP, linux=linux), "--detach").check()
    return runtime.state(cid)["pid"]


def test_cgroups_path_is_used_in_every_hierarchy(runtime, bundle, cid):
    config = base_config(SLEEP)
    runtime.run(cid, bundle(config=config), "--detach").check()
    paths = cgroup_paths(runtime.state(cid)["pid"])
    for controller in ("memory", "pids", "cpu", "devices", "freezer"):
        assert paths[controller] == config["linux"]["cgroupsPath"], controller


def test_memory(runtime, bundle, cid):
    pid = _running(runtime, bundle, cid, {"memory": {"limit": 64 << 20, "reservation": 32 << 20}})
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert cgroup_file(pid, "memory", "memory.soft_limit_in_bytes") == str(32 << 20)


def test_pids(runtime, bundle, cid):
    pid = _running(runtime, bundle, cid, {"pids": {"limit": 32}})
    assert cgroup_file(pid, "pids", "pids.max") == "32"


def test_pids_limit_is_enforced(runtime, bundle, cid):
    linux = base_config()["linux"]
    linux["resources"]["pids"] = {"limit": 3}
    script = "for i in 1 2 3 4 5; do sleep 1 & done; wait; echo all-started"
    result = runtime.run(cid, bundle(args=["sh", "-c", script], linux=linux))
    assert "all-started" not in result.stdout


def test_cpu(runtime, bundle, cid):
    pid = _running(runtime, bundle, cid, {"cpu": {"shares": 512, "quota": 50000, "period": 100000}})
    assert cgroup_file(pid, "cpu", "cpu.shares") == "512"
    assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cgroup_file(pid, "cpu", "cpu.cfs_period_us") == "100000"


def test_cpuset(runtime, bundle, cid):
    pid = _running(runtime, bundle, cid, {"cpu": {"cpus": "0", "mems": "0"}})
    assert cgroup_file(pid, "cpuset", "cpuset.cpus") == "0"
    assert cgroup_file(pid, "cpuset", "cpuset.mems") == "0"


def _root_device() -> tuple[int, int]:
    import os

    st = os.stat("/")
    return os.major(st.st_dev), os.minor(st.st_dev)


def test_blkio_throttle(runtime, bundle, cid):
    major, minor = _root_device()
    pid = _running(runtime, bundle, cid, {"blockIO": {"throttleReadBpsDevice": [
        {"major": major, "minor": minor, "rate": 1 << 20}]}})
    assert f"{major}:{minor} {1 << 20}" in cgroup_file(pid, "blkio", "blkio.throttle.read_bps_device")


def test_blkio_weight(runtime, bundle, cid):
    # BFQ offers blkio.bfq.weight (CFQ, gone since Linux 5.0, offered blkio.weight); with neither
    # scheduler on any disk there is no file to write, and runc itself fails.
    offered = {p.name for p in cgroup_dir("self", "blkio").iterdir()}
    name = next((n for n in ("blkio.bfq.weight", "blkio.weight") if n in offered), None)
    if name is None:
        pytest.skip("this host's blkio controller has neither blkio.bfq.weight nor blkio.weight "
                    "(no disk uses the BFQ I/O scheduler)")
    pid = _running(runtime, bundle, cid, {"blockIO": {"weight": 500}})
    assert "500" in cgroup_file(pid, "blkio", name).split()


def test_container_sees_its_own_cgroup_files(runtime, bundle, cid):
    linux = base_config()["linux"]
    linux["resources"]["pids"] = {"limit": 42}
    result = runtime.run(cid, bundle(args=["cat", "/sys/fs/cgroup/pids/pids.max"], linux=linux))
    assert result.check().stdout.strip() == "42"
