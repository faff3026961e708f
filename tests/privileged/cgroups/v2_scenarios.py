"""Scenarios of the v2 manager, run inside a private view of a pure cgroup v2 host.

``test_cgroups_v2.py`` starts ``python v2_scenarios.py <scenario>`` in new mount and cgroup
namespaces whose cgroup root is a test cgroup of its own, with the v1 tmpfs lazily unmounted
from /sys/fs/cgroup and cgroup2 mounted there instead; so ``open_manager`` finds a v2 host, and
everything made below /sys/fs/cgroup is made below the test's cgroup on the real host.

Each scenario prints one JSON object: ``{"ok": ...}`` with what it observed, or
``{"skip": reason}``. A failed check raises, and the traceback reaches the test on stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from boxen.common.errors import Unimplemented
from boxen.oci.runtime import LinuxCPU, LinuxDevice, LinuxDeviceCgroup, LinuxMemory, LinuxPids, LinuxResources
from boxen.runtime.cgroups import V2Manager, open_manager
from boxen.runtime.cgroups.shared import controllers
from boxen.runtime.linux import bpf

ROOT = "/sys/fs/cgroup"
MiB = 1 << 20

OPEN = """
import os
for path, mode in (("/dev/null", os.O_RDWR), ("/dev/null", os.O_RDONLY), ("/dev/kmsg", os.O_RDONLY),
                   ("/dev/kmsg", os.O_WRONLY)):
    try:
        os.close(os.open(path, mode))
        print("ok", end=" ")
    except OSError as exc:
        print(exc.errno, end=" ")
"""


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _manager(resources=None, devices=()) -> V2Manager:
    manager = open_manager("/ctr", "ctr")
    assert isinstance(manager, V2Manager), manager
    writes = manager.plan(resources, devices)
    manager.create()
    manager.apply(writes)
    return manager


def _programs(directory: str) -> list[int]:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return bpf.prog_query(fd, bpf.BPF_CGROUP_DEVICE)
    finally:
        os.close(fd)


def _opens(manager: V2Manager) -> str:
    result = subprocess.run([sys.executable, "-c", OPEN], preexec_fn=lambda: manager.join(0),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def layout() -> dict:
    manager = open_manager("/ctr", "ctr")
    assert isinstance(manager, V2Manager) and manager.path == f"{ROOT}/ctr", manager.saved()
    beside = open_manager(None, "c2")  # relative: beside our own cgroup (/runner), so /c2
    assert beside.path == f"{ROOT}/c2", beside.saved()
    return {"ok": manager.describe(), "controllers": controllers(ROOT)}


def lifecycle() -> dict:
    manager = _manager()
    # join(0) in the child before exec, as the runtime's init does (this process has one thread)
    child = subprocess.Popen(["sleep", "600"], preexec_fn=lambda: manager.join(0))  # noqa: PLW1509
    try:
        assert "0::/ctr" in _read(f"/proc/{child.pid}/cgroup").splitlines()
        assert manager.pids() == [child.pid] and manager.populated()
        manager.freeze()
        frozen = (manager.frozen(), "frozen 1" in _read(f"{ROOT}/ctr/cgroup.events"))
        manager.thaw()
        thawed = not manager.frozen()
        stats = manager.stats()
        manager.kill()
        status = child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    for _ in range(100):
        if not manager.populated():
            break
        time.sleep(0.01)
    manager.destroy()
    return {"ok": True, "frozen": frozen, "thawed": thawed, "killed": status, "pids": stats["pids"],
            "removed": not os.path.exists(f"{ROOT}/ctr")}


def devices() -> dict:
    deny_all = LinuxDeviceCgroup(allow=False, access="rwm")
    kmsg_read = LinuxDeviceCgroup(allow=True, type="c", major=1, minor=11, access="r")
    manager = _manager(LinuxResources(devices=(deny_all, kmsg_read)))
    first = _programs(manager.path)
    before = _opens(manager)
    null_read = LinuxDeviceCgroup(allow=True, type="c", major=1, minor=3, access="r")
    # /dev/null defined by linux.devices: runc's default rw rule for it is dropped.
    null_node = LinuxDevice(path="/dev/null", type="c", major=1, minor=3)
    manager.update(LinuxResources(devices=(deny_all, null_read)), devices=(null_node,))
    second = _programs(manager.path)
    after = _opens(manager)
    manager.destroy()
    return {"ok": True, "before": before, "after": after, "programs": [len(first), len(second)],
            "replaced": first != second}


def controller(name: str) -> dict:
    resources, files = {
        "memory": (LinuxResources(memory=LinuxMemory(limit=64 * MiB)), {"memory.max": str(64 * MiB)}),
        "pids": (LinuxResources(pids=LinuxPids(5)), {"pids.max": "5"}),
        "cpu": (LinuxResources(cpu=LinuxCPU(shares=1024, quota=50000)), {"cpu.weight": "39",
                                                                         "cpu.max": "50000 100000"}),
    }[name]
    try:
        manager = _manager(resources)
    except Unimplemented as exc:
        return {"skip": str(exc)}
    seen = {f: _read(f"{manager.path}/{f}") for f in files}
    manager.destroy()
    return {"ok": seen == files, "seen": seen}


def born() -> dict:
    """The runtime's clone of an init: clone3(CLONE_INTO_CGROUP), so the child starts in the cgroup."""
    from boxen.runtime.linux.kernel import KERNEL

    manager = _manager()
    read_end, write_end = os.pipe()
    pid = manager.clone_init(KERNEL, 0)
    if pid == 0:
        os.write(write_end, _read("/proc/self/cgroup").encode())
        os._exit(0)
    os.close(write_end)
    seen = os.read(read_end, 4096).decode().strip()
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    manager.destroy()
    return {"ok": True, "born_in": manager.born_in, "cgroup": seen, "status": status}


def frozen() -> dict:
    """A frozen cgroup, ours or a parent's, is refused by create() (the init would stop in it)."""
    from boxen.common.errors import FailedPrecondition

    refused = []
    for frozen_dir, cgroups_path in ((f"{ROOT}/ctr", "/ctr"), (f"{ROOT}/parent", "/parent/ctr")):
        os.mkdir(frozen_dir)
        _write(f"{frozen_dir}/cgroup.freeze", "1")
        manager = open_manager(cgroups_path, "ctr")
        try:
            manager.create()
        except FailedPrecondition as exc:
            refused.append(str(exc))
        manager.destroy()  # nothing: the frozen cgroup is not the manager's
        kept = os.path.isdir(frozen_dir) and not os.path.exists(f"{frozen_dir}/ctr")
        _write(f"{frozen_dir}/cgroup.freeze", "0")
        os.rmdir(frozen_dir)
        if not kept:
            refused.append(f"{frozen_dir} was not kept as it was")
    return {"ok": True, "refused": refused}


def oom() -> dict:
    """A process beyond memory.max is OOM-killed, and the manager's OOM watch reports it."""
    if "memory" not in controllers(ROOT):
        return {"skip": "the memory controller is not available in this host's cgroup2 hierarchy "
                        f"(its cgroup.controllers lists: {' '.join(controllers(ROOT)) or 'none'})"}
    import select

    manager = _manager(LinuxResources(memory=LinuxMemory(limit=16 * MiB)))
    if os.path.exists(f"{manager.path}/memory.swap.max"):  # with swap accounting: no swapping out either
        manager.update(LinuxResources(memory=LinuxMemory(limit=16 * MiB, swap=16 * MiB)))
    watch = manager.oom_watch()
    hog = subprocess.run([sys.executable, "-c", "x = bytearray(64 << 20)"], preexec_fn=lambda: manager.join(0),
                         capture_output=True, timeout=60, check=False)
    poller = select.poll()
    poller.register(watch.fileno(), select.POLLPRI)
    ready = poller.poll(10000)
    fired = bool(ready) and watch.fired()
    kills = _read(f"{manager.path}/memory.events")
    watch.close()
    manager.destroy()
    return {"ok": True, "returncode": hog.returncode, "fired": fired, "events": kills}


def main() -> None:
    os.mkdir(f"{ROOT}/runner")  # leave the namespace's root cgroup, as a runtime sits in a leaf
    _write(f"{ROOT}/runner/cgroup.procs", "0")
    scenario, *args = sys.argv[1:]
    result = {"layout": layout, "lifecycle": lifecycle, "devices": devices, "controller": controller, "born": born,
              "frozen": frozen, "oom": oom}[scenario](*args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
