"""The executor and the manager's life cycle on simulated trees (the kernel's part is faked)."""

import errno
import os

import pytest

from boxen.common import posixos
from boxen.common.errors import InvalidArgument, KernelError, NotFound
from boxen.oci.runtime import LinuxCPU, LinuxMemory, LinuxResources
from boxen.runtime.cgroups import CgroupWrite, DeviceFilter, reopen
from boxen.runtime.cgroups import writes as writes_module
from boxen.runtime.cgroups.writes import perform, size_words


@pytest.fixture
def recorded(monkeypatch):
    """Record writes instead of making them; ``refuse[path] = [errno, ...]`` fails the next ones."""
    done: list[tuple[str, str]] = []
    refuse: dict[str, list[int]] = {}

    def write(path, value):
        if refuse.get(path):
            code = refuse[path].pop(0)
            raise OSError(code, os.strerror(code), path)
        done.append((path, value))

    monkeypatch.setattr(writes_module, "write", write)
    return done, refuse


def test_writes_are_made_in_order(recorded):
    done, _ = recorded
    perform([CgroupWrite("/cg/a", "1", ""), CgroupWrite("/cg/b", "2", "")])
    assert done == [("/cg/a", "1"), ("/cg/b", "2")]


def test_an_interdependent_value_refused_with_einval_is_retried_after_its_partner(recorded):
    done, refuse = recorded
    refuse["/cg/memory.limit_in_bytes"] = [errno.EINVAL]
    perform([CgroupWrite("/cg/memory.limit_in_bytes", "300", ""), CgroupWrite("/cg/memory.memsw.limit_in_bytes",
                                                                              "400", "")])
    assert done == [("/cg/memory.memsw.limit_in_bytes", "400"), ("/cg/memory.limit_in_bytes", "300")]


def test_a_refused_write_names_the_file_the_value_and_a_hint(recorded):
    _, refuse = recorded
    refuse["/cg/memory.limit_in_bytes"] = [errno.EBUSY]
    with pytest.raises(KernelError) as err:
        perform([CgroupWrite("/cg/memory.limit_in_bytes", "1000", "")])
    text = str(err.value)
    assert "/cg/memory.limit_in_bytes" in text and "'1000'" in text and "already uses more memory" in text
    assert err.value.errno == errno.EBUSY


def test_einval_on_other_files_fails_at_once(recorded):
    done, refuse = recorded
    refuse["/cg/pids.max"] = [errno.EINVAL]
    with pytest.raises(KernelError, match="pids.max"):
        perform([CgroupWrite("/cg/pids.max", "x", ""), CgroupWrite("/cg/cpu.shares", "2", "")])
    assert done == []


def test_controllers_the_kernel_refuses_together_are_enabled_one_by_one(recorded):
    done, refuse = recorded
    refuse["/cg/cgroup.subtree_control"] = [errno.EINVAL, errno.EINVAL]  # the list, then "+cpu"
    perform([CgroupWrite("/cg/cgroup.subtree_control", "+cpu +memory", "")])
    assert done == [("/cg/cgroup.subtree_control", "+memory")]


def test_a_device_filter_is_attached_not_written(recorded, monkeypatch):
    done, _ = recorded
    attached = []
    monkeypatch.setattr(writes_module, "_attach", attached.append)
    entry = DeviceFilter("/cg", "deny all devices", "", b"\x00" * 8)
    perform([entry])
    assert attached == [entry] and done == []


def test_size_words():
    assert size_words(100 << 20) == "100 MiB"
    assert size_words(3 << 30) == "3 GiB"
    assert size_words(1000) == "1000 bytes"


# --- life cycle on a simulated tree --------------------------------------------------------------


def test_create_makes_every_hierarchy_and_copies_cpuset_from_the_parent(make_host, fake_kernel):
    host = make_host()
    fake_kernel(host)
    manager = host.manager("/boxen/ctr")
    manager.create()
    for name in ("cpuset", "cpu", "memory", "devices", "systemd", "unified"):
        assert os.path.isdir(host.path(name, "boxen", "ctr")), name
    assert host.read("cpuset", "boxen", "cpuset.cpus") == "0-1"
    assert host.read("cpuset", "boxen", "ctr", "cpuset.mems") == "0"
    assert host.path("memory", "boxen") in manager.created and host.path("memory", "boxen", "ctr") in manager.created


def test_destroy_removes_what_create_made_but_not_a_parent_in_use(make_host, fake_kernel):
    host = make_host()
    fake_kernel(host)
    first, second = host.manager("/boxen/a", "a"), host.manager("/boxen/b", "b")
    first.create()
    second.create()
    manager = reopen(first.saved())
    manager.destroy()
    assert not os.path.exists(host.path("memory", "boxen", "a"))
    assert os.path.isdir(host.path("memory", "boxen", "b"))
    reopen(second.saved()).destroy()
    assert not os.path.exists(host.path("memory", "boxen", "b"))
    # /boxen was made by the first container, and was in use when it went: it stays, as with runc.
    assert os.path.isdir(host.path("memory", "boxen"))


def test_create_failure_removes_what_it_made(make_host, fake_kernel, monkeypatch):
    host = make_host()
    fake_kernel(host)
    real_mkdir = posixos.mkdir

    def mkdir(path, mode=0o777):
        if "/pids/" in str(path):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        real_mkdir(path, mode)  # the fake kernel's: populates the cgroup

    monkeypatch.setattr(posixos, "mkdir", mkdir)
    with pytest.raises(KernelError, match="mkdir"):
        host.manager("/boxen/ctr").create()
    assert not os.path.exists(host.path("memory", "boxen"))


def test_join_writes_the_pid_to_every_hierarchy(make_host, fake_kernel):
    host = make_host()
    fake_kernel(host)
    manager = host.manager("/boxen/ctr")
    manager.create()
    manager.join(4242)
    for directory, _mount in manager.directories():
        with open(os.path.join(directory, "cgroup.procs")) as f:
            assert f.read() == "4242"
    assert manager.pids() == [4242]


def test_a_process_joins_itself_through_tasks_on_v1(make_host, fake_kernel):
    host = make_host()  # hybrid: v1 hierarchies and a cgroup2 one, which has no tasks file
    fake_kernel(host)
    manager = host.manager("/boxen/ctr")
    manager.create()
    unified = manager.paths[""]
    for directory, _mount in manager.directories():
        if directory != unified:
            open(os.path.join(directory, "tasks"), "w").close()
    move = manager.join_later()  # opens now: the caller may pivot_root before it moves
    for directory, _mount in manager.directories():
        assert host.read(os.path.relpath(os.path.join(directory, "cgroup.procs"), host.root)) == ""
    move()
    for directory, _mount in manager.directories():
        name = "cgroup.procs" if directory == unified else "tasks"
        with open(os.path.join(directory, name)) as f:
            assert f.read() == "0", directory


def test_join_later_names_a_file_it_cannot_open(make_host, fake_kernel):
    host = make_host()
    fake_kernel(host)
    manager = host.manager("/boxen/ctr")
    manager.create()
    with pytest.raises(KernelError, match="tasks"):
        manager.join_later()  # the simulated tree has no tasks files


def test_sub_cgroups_for_exec(make_host, fake_kernel):
    host = make_host()
    fake_kernel(host)
    manager = host.manager("/boxen/ctr")
    manager.create()
    os.mkdir(host.path("memory", "boxen", "ctr", "job"))
    sub = manager.sub("memory:job")
    assert sub.paths["memory"] == host.path("memory", "boxen", "ctr", "job")
    assert sub.paths["cpu"] == manager.paths["cpu"]
    with pytest.raises(NotFound):
        manager.sub("job")  # not made in every hierarchy
    with pytest.raises(InvalidArgument, match="not a sub-cgroup"):
        manager.sub("memory:../../escape")
    with pytest.raises(InvalidArgument, match="unknown controller"):
        manager.sub("net_cls:job")


def test_mount_sources_name_each_v1_hierarchy_once(host):
    manager = host.manager("/boxen/ctr")
    sources = dict(manager.mount_sources())
    assert sources["cpu"] == host.path("cpu", "boxen", "ctr")
    assert sources["systemd"] == host.path("systemd", "boxen", "ctr")
    assert "unified" not in sources and "" not in sources


def test_describe_says_where_and_what(host, v2_host):
    lines = host.manager("/boxen/ctr").describe()
    assert lines[0].startswith("cgroup v1")
    assert any("hybrid host" in line and "hugetlb" in line for line in lines)
    assert f"memory: {host.path('memory', 'boxen', 'ctr')}" in lines
    v2 = v2_host.manager("/boxen/ctr").describe()
    assert v2[0].startswith("cgroup v2") and "memory" in v2[0]


def test_v1_freezer_state(make_host, fake_kernel):
    host = make_host()
    fake_kernel(host)
    manager = host.manager("/boxen/ctr")
    manager.create()
    assert not manager.frozen()
    manager.freeze()  # a plain file reads back FROZEN at once
    assert host.read("freezer", "boxen", "ctr", "freezer.state") == "FROZEN"
    with open(host.path("freezer", "boxen", "ctr", "freezer.self_freezing"), "w") as f:
        f.write("1\n")
    assert manager.frozen()
    manager.thaw()
    assert not manager.frozen()


def test_update_writes_only_the_given_resources(make_host, fake_kernel):
    host = make_host()
    fake_kernel(host)
    manager = host.manager("/boxen/ctr")
    manager.create()
    manager.update(LinuxResources(cpu=LinuxCPU(shares=512), memory=LinuxMemory(limit=64 << 20)))
    assert host.read("cpu", "boxen", "ctr", "cpu.shares") == "512"
    assert host.read("memory", "boxen", "ctr", "memory.limit_in_bytes") == str(64 << 20)
    assert host.read("devices", "boxen", "ctr", "devices.list") == "a *:* rwm\n"  # devices not given: untouched


class _CloneKernel:
    """Records clone calls; clone3 (``cgroup_fd`` given) fails with ``clone3_errno`` if set."""

    def __init__(self, clone3_errno: int = 0) -> None:
        self.clone3_errno = clone3_errno
        self.calls: list[tuple[int, bool]] = []

    def clone(self, flags: int, cgroup_fd: int | None = None) -> int:
        self.calls.append((flags, cgroup_fd is not None))
        if cgroup_fd is not None and self.clone3_errno:
            from boxen.common.errors import kernel_error

            raise kernel_error(self.clone3_errno, "clone3")
        return 4242


@pytest.mark.parametrize("layout", ["hybrid", "v2"])
def test_the_init_is_born_in_the_cgroup2_directory_and_joins_only_the_rest(make_host, fake_kernel, layout):
    host = make_host(layout)
    fake_kernel(host)
    manager = host.manager("/boxen/ctr")
    manager.create()
    kernel = _CloneKernel()
    assert manager.clone_init(kernel, 0x20000000) == 4242
    assert kernel.calls == [(0x20000000, True)]
    cgroup2 = manager.paths[""] if layout == "hybrid" else manager.path
    assert manager.born_in == cgroup2
    manager.join(4242)  # as the parent does for an init in a new user namespace
    for directory, _mount in manager.directories():
        with open(os.path.join(directory, "cgroup.procs")) as f:
            assert f.read() == ("" if directory == cgroup2 else "4242"), directory


@pytest.mark.parametrize("code", [errno.ENOSYS, errno.E2BIG, errno.EINVAL, errno.EBUSY])
def test_without_clone3_into_a_cgroup_the_init_is_cloned_and_joins_as_before(make_host, fake_kernel, code):
    host = make_host("v2")
    fake_kernel(host)
    manager = host.manager("/boxen/ctr")
    manager.create()
    kernel = _CloneKernel(code)
    assert manager.clone_init(kernel, 0) == 4242
    assert kernel.calls == [(0, True), (0, False)]
    assert manager.born_in is None
    manager.join(4242)
    assert host.read("boxen", "ctr", "cgroup.procs") == "4242"


def test_other_clone3_errors_are_not_hidden_by_a_second_try(make_host, fake_kernel):
    host = make_host("v2")
    fake_kernel(host)
    manager = host.manager("/boxen/ctr")
    manager.create()
    kernel = _CloneKernel(errno.EAGAIN)  # e.g. pids.max reached
    with pytest.raises(KernelError, match="clone3"):
        manager.clone_init(kernel, 0)
    assert kernel.calls == [(0, True)]


def test_a_v1_host_clones_without_a_cgroup(make_host, fake_kernel):
    host = make_host("v1")
    fake_kernel(host)
    manager = host.manager("/boxen/ctr")
    manager.create()
    kernel = _CloneKernel()
    manager.clone_init(kernel, 0)
    assert kernel.calls == [(0, False)] and manager.born_in is None


@pytest.mark.parametrize(("layout", "hierarchy", "name", "text"), [
    ("v1", "freezer", "freezer.state", "FROZEN\n"),
    ("hybrid", "freezer", "freezer.state", "FREEZING\n"),
    ("hybrid", "unified", "cgroup.events", "populated 0\nfrozen 1\n"),
    ("v2", "", "cgroup.freeze", "1\n"),
    ("v2", "", "cgroup.events", "populated 1\nfrozen 1\n"),
])
def test_a_frozen_cgroup_is_refused_and_what_create_made_is_removed(make_host, fake_kernel, layout, hierarchy,
                                                                    name, text):
    from boxen.common.errors import FailedPrecondition

    host = make_host(layout)
    fake_kernel(host)
    frozen = host.path(hierarchy, "ctr") if hierarchy else host.path("ctr")
    os.mkdir(frozen)  # made by someone else (populated by the fake kernel), then frozen
    with open(os.path.join(frozen, name), "w") as f:
        f.write(text)
    manager = host.manager("/ctr")
    with pytest.raises(FailedPrecondition, match="unexpectedly frozen") as err:
        manager.create()
    assert err.value.field == "linux.cgroupsPath" and name in str(err.value)
    assert manager.created == []
    manager.destroy()  # as a failed create's rollback does: the frozen cgroup was not ours
    for directory, _mount in manager.directories():  # made and removed again, but for the frozen one
        assert os.path.exists(directory) == (directory == frozen), directory
