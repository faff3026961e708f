"""Simulated cgroup hosts: directories holding the files a kernel would show, and their mountinfo.

A :class:`FakeHost` lays out ``<tmp>/cgroup`` like one of the three layouts (v1, v2, hybrid)
and gives the mountinfo text that describes it, so the code under test finds the hierarchies
exactly as it would on a real host. ``fake_kernel`` makes ``mkdir`` in such a tree create the
interface files the kernel would put in a new cgroup (a plain directory has none).
"""

from __future__ import annotations

import errno
import os

import pytest

from boxen.common import posixos

V1 = ("cpuset", "cpu", "cpuacct", "memory", "devices", "freezer", "blkio", "pids", "systemd")

#: Files of a hierarchy's root cgroup (v1: per hierarchy directory; v2: the mount itself).
ROOT_FILES = {
    "cpuset": {"cpuset.cpus": "0-1\n", "cpuset.mems": "0\n", "cpuset.cpu_exclusive": "1\n"},
    "cpu": {"cpu.shares": "1024\n", "cpu.cfs_period_us": "100000\n", "cpu.cfs_quota_us": "-1\n",
            "cpu.cfs_burst_us": "0\n", "cpu.rt_period_us": "1000000\n", "cpu.rt_runtime_us": "950000\n",
            "cpu.idle": "0\n", "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"},
    "cpuacct": {"cpuacct.usage": "0\n"},
    "memory": {"memory.limit_in_bytes": "9223372036854771712\n", "memory.memsw.limit_in_bytes": "9223372036854771712\n",
               "memory.soft_limit_in_bytes": "9223372036854771712\n", "memory.kmem.tcp.limit_in_bytes": "0\n",
               "memory.oom_control": "oom_kill_disable 0\n", "memory.swappiness": "60\n"},
    "devices": {"devices.list": "a *:* rwm\n", "devices.allow": "", "devices.deny": ""},
    "freezer": {},
    "blkio": {"blkio.throttle.read_bps_device": ""},
    "pids": {},
    "systemd": {},
    "unified": {"cgroup.controllers": "hugetlb\n", "cgroup.subtree_control": "\n"},
}

#: Files the kernel puts in a new (non-root) cgroup of each hierarchy.
CHILD_FILES = {
    "cpuset": {"cpuset.cpus": "\n", "cpuset.mems": "\n"},
    "memory": {"memory.limit_in_bytes": "9223372036854771712\n"},
    "devices": {"devices.list": "a *:* rwm\n"},
    "freezer": {"freezer.state": "THAWED\n", "freezer.self_freezing": "0\n"},
    "blkio": {"blkio.bfq.weight": "100\n"},
    "pids": {"pids.max": "max\n", "pids.current": "0\n"},
    "unified": {"cgroup.subtree_control": "\n", "cgroup.freeze": "0\n", "cgroup.events": "populated 0\nfrozen 0\n"},
}

V2_CONTROLLERS = "cpuset cpu io memory hugetlb pids rdma misc"


class FakeHost:
    """A cgroup tree under ``root`` in one of the layouts ``v1``, ``v2``, ``hybrid``."""

    def __init__(self, base, layout: str = "hybrid", *, memsw: bool = True, kmem_tcp: bool = True,
                 cfq: bool = False) -> None:
        self.root = str(base / "cgroup")
        self.layout = layout
        lines = [f"22 1 0:20 / {base} rw - tmpfs tmpfs rw"]
        if layout == "v2":
            self._files(self.root, {"cgroup.controllers": V2_CONTROLLERS + "\n", "cgroup.subtree_control": "\n",
                                    "cgroup.procs": ""})
            lines.append(f"31 22 0:28 / {self.root} rw - cgroup2 cgroup2 rw,nsdelegate")
        else:
            lines.append(f"31 22 0:28 / {self.root} rw - tmpfs tmpfs rw,mode=755")
            for i, name in enumerate(V1):
                files = dict(ROOT_FILES[name], **{"cgroup.procs": ""})
                if name == "memory" and not memsw:
                    files.pop("memory.memsw.limit_in_bytes")
                if name == "memory" and not kmem_tcp:
                    files.pop("memory.kmem.tcp.limit_in_bytes")
                if name == "blkio" and cfq:
                    files["blkio.weight"] = "500\n"
                self._files(os.path.join(self.root, name), files)
                option = "name=systemd" if name == "systemd" else name
                lines.append(f"{32 + i} 31 0:{29 + i} / {self.root}/{name} rw - cgroup cgroup rw,{option}")
            if layout == "hybrid":
                self._files(os.path.join(self.root, "unified"), dict(ROOT_FILES["unified"], **{"cgroup.procs": ""}))
                lines.append(f"41 31 0:38 / {self.root}/unified rw - cgroup2 cgroup2 rw")
        self.mountinfo = "\n".join(lines) + "\n"

    @staticmethod
    def _files(directory: str, files: dict[str, str]) -> None:
        os.makedirs(directory, exist_ok=True)
        for name, text in files.items():
            with open(os.path.join(directory, name), "w") as f:
                f.write(text)

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def read(self, *parts: str) -> str:
        with open(self.path(*parts)) as f:
            return f.read()

    def hierarchy(self, directory: str) -> str:
        """Which hierarchy (v1 name, ``unified``, or ``v2``) a directory belongs to."""
        relative = os.path.relpath(directory, self.root)
        return "v2" if self.layout == "v2" else relative.split("/")[0]

    def populate(self, directory: str) -> None:
        """Put the interface files of a new cgroup into ``directory``, as the kernel does on mkdir."""
        name = self.hierarchy(directory)
        parent = os.path.dirname(directory)
        if name in ("v2", "unified"):
            files = dict(CHILD_FILES["unified"])
            with open(os.path.join(parent, "cgroup.subtree_control")) as f:
                files["cgroup.controllers"] = f.read()
        else:  # a v1 child has its hierarchy's files (as the host has them), with a new cgroup's values
            files = {entry.name: "" for entry in os.scandir(os.path.join(self.root, name)) if entry.is_file()}
            files.update({k: v for k, v in ROOT_FILES[name].items() if k in files})
            files.update(CHILD_FILES.get(name, {}))
        files["cgroup.procs"] = ""
        self._files(directory, files)

    def manager(self, cgroups_path: str | None = "/boxen/ctr", container_id: str = "ctr", **kw):
        from boxen.runtime.cgroups import open_manager

        kw.setdefault("proc_cgroup", "4:memory:/\n0::/\n")
        return open_manager(cgroups_path, container_id, root=self.root, mountinfo=self.mountinfo, **kw)


@pytest.fixture
def make_host(tmp_path):
    """FakeHost(layout, memsw=, kmem_tcp=, cfq=) of its own, for tests that change files."""
    return lambda layout="hybrid", **kw: FakeHost(tmp_path, layout, **kw)


@pytest.fixture(scope="session")
def _pristine(tmp_path_factory):
    return {layout: FakeHost(tmp_path_factory.mktemp(layout), layout) for layout in ("v1", "v2", "hybrid")}


@pytest.fixture
def host(_pristine):
    """A hybrid host shared by the tests that only read it (plans)."""
    return _pristine["hybrid"]


@pytest.fixture
def v1_host(_pristine):
    return _pristine["v1"]


@pytest.fixture
def v2_host(_pristine):
    return _pristine["v2"]


@pytest.fixture
def fake_kernel(monkeypatch):
    """Make ``mkdir`` below a FakeHost's root populate the new cgroup, and ``rmdir`` remove its
    interface files, as the kernel does (a cgroup with sub-cgroups still cannot be removed).
    The runtime calls them through ``boxen.common.posixos``, so that is what is patched."""
    hosts: list[FakeHost] = []
    real_mkdir, real_rmdir = os.mkdir, os.rmdir

    def ours(path) -> bool:
        return any(str(path).startswith(h.root + "/") for h in hosts)

    def mkdir(path, mode=0o777, *args, **kwargs):
        real_mkdir(path, mode, *args, **kwargs)
        for h in hosts:
            if str(path).startswith(h.root + "/"):
                h.populate(str(path))

    def rmdir(path, *args, **kwargs):
        if ours(path) and os.path.isdir(path):
            entries = list(os.scandir(path))
            if any(e.is_dir() for e in entries):
                raise OSError(errno.EBUSY, "Device or resource busy", str(path))
            for e in entries:
                os.unlink(e.path)
        real_rmdir(path, *args, **kwargs)

    monkeypatch.setattr(posixos, "mkdir", mkdir)
    monkeypatch.setattr(posixos, "rmdir", rmdir)
    return hosts.append
