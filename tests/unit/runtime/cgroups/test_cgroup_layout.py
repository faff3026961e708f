"""Finding the hierarchies in mountinfo and resolving ``linux.cgroupsPath`` the way runc does."""

import pytest

from boxen.common.errors import FailedPrecondition, InvalidArgument, Unimplemented
from boxen.runtime.cgroups import V1Manager, V2Manager, open_manager, reopen
from boxen.runtime.cgroups.layout import (
    CgroupMount,
    clean_path,
    detect,
    inner_path,
    parse_proc_cgroup,
    v1_paths,
    v2_path,
)

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
"""
V2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"


def test_hybrid_layout():
    layout = detect(HYBRID)
    assert layout.version == 1 and layout.hybrid
    assert CgroupMount("/sys/fs/cgroup/cpu,cpuacct", "/", ("cpu", "cpuacct")) in layout.v1
    assert CgroupMount("/sys/fs/cgroup/systemd", "/", ("name=systemd",)) in layout.v1
    assert layout.unified == CgroupMount("/sys/fs/cgroup/unified", "/", ())


def test_v1_layout_without_unified():
    layout = detect("\n".join(line for line in HYBRID.splitlines() if "cgroup2" not in line))
    assert layout.version == 1 and not layout.hybrid and layout.unified is None


def test_v2_layout():
    layout = detect(V2)
    assert layout.version == 2 and not layout.hybrid
    assert layout.unified.mountpoint == "/sys/fs/cgroup"


def test_a_later_mount_hides_an_earlier_one():
    # A cgroup2 mounted over the v1 tmpfs (what the v2 privileged tests do in a mount namespace).
    assert detect(HYBRID + "99 31 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n").version == 2


def test_mounts_elsewhere_are_ignored():
    with pytest.raises(FailedPrecondition, match="no cgroup hierarchy is mounted at /sys/fs/cgroup"):
        detect("50 1 0:40 / /mnt/cg rw - cgroup2 cgroup2 rw\n")


def test_escaped_mount_points():
    layout = detect("32 31 0:29 / /my\\040root/devices rw - cgroup cgroup rw,devices\n", "/my root")
    assert layout.v1[0].mountpoint == "/my root/devices"


def test_proc_self_cgroup():
    own = parse_proc_cgroup("3:cpu,cpuacct:/a\n1:name=systemd:/init.scope\n0::/user.slice\n")
    assert own == {"cpu": "/a", "cpuacct": "/a", "name=systemd": "/init.scope", "": "/user.slice"}


@pytest.mark.parametrize("path, cleaned", [
    ("/a/b/../c", "/a/c"),
    ("/../../x", "/x"),
    ("a/../../b", "b"),
    ("../../etc", "etc"),
    ("//a//b/", "/a/b"),
    ("./a", "a"),
    ("..", "."),
])
def test_clean_path_like_runc(path, cleaned):
    assert clean_path(path) == cleaned


def test_the_container_id_is_the_default_path():
    assert inner_path(None, "abc") == "abc"
    assert inner_path("", "abc") == "abc"


@pytest.mark.parametrize("path", ["/", "..", "/../.."])
def test_a_path_naming_no_cgroup_of_its_own_is_refused(path):
    with pytest.raises(InvalidArgument) as err:
        inner_path(path, "abc")
    assert err.value.field == "linux.cgroupsPath"


def test_v1_absolute_paths_start_at_each_hierarchy_root():
    paths, mounts = v1_paths(detect(HYBRID), "/boxen/c1", {})
    assert paths["cpu"] == paths["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct/boxen/c1"
    assert paths["name=systemd"] == "/sys/fs/cgroup/systemd/boxen/c1"
    assert paths[""] == "/sys/fs/cgroup/unified/boxen/c1"
    assert mounts["memory"] == "/sys/fs/cgroup/memory"
    assert list(paths)[:3] == ["cpuset", "devices", "memory"]  # runc's order: cpuset first


def test_v1_relative_paths_start_at_our_own_cgroup_per_hierarchy():
    own = parse_proc_cgroup("4:memory:/process_api/x\n3:cpu,cpuacct:/\n2:cpuset:/\n5:devices:/d\n"
                            "1:name=systemd:/\n0::/\n")
    paths, _ = v1_paths(detect(HYBRID), "c1", own)
    assert paths["memory"] == "/sys/fs/cgroup/memory/process_api/x/c1"
    assert paths["devices"] == "/sys/fs/cgroup/devices/d/c1"
    assert paths["cpu"] == "/sys/fs/cgroup/cpu,cpuacct/c1"
    assert paths[""] == "/sys/fs/cgroup/unified/c1"  # runc ignores our own cgroup2 path here


def test_relative_paths_see_through_a_mount_of_a_subtree():
    # Inside a cgroup namespace the mount shows /ns as its root; /proc/self/cgroup names host paths.
    info = "36 31 0:33 /ns /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n"
    paths, _ = v1_paths(detect(info), "c1", {"devices": "/ns/me"})
    assert paths["devices"] == "/sys/fs/cgroup/devices/me/c1"


def test_a_hierarchy_we_are_not_in_is_skipped_but_devices_is_required():
    layout = detect(HYBRID)
    paths, _ = v1_paths(layout, "c1", {"devices": "/", "memory": "/"})
    assert set(paths) == {"devices", "memory", ""}
    with pytest.raises(FailedPrecondition, match="devices controller"):
        v1_paths(layout, "c1", {"memory": "/"})


def test_v2_relative_paths_start_beside_our_own_cgroup():
    layout = detect(V2)
    assert v2_path(layout, "c1", {"": "/user.slice/session-1.scope"}) == "/sys/fs/cgroup/user.slice/c1"
    assert v2_path(layout, "/boxen/c1", {}) == "/sys/fs/cgroup/boxen/c1"


def test_open_manager_picks_the_version():
    assert isinstance(open_manager("/b/c", "c", mountinfo=HYBRID), V1Manager)
    manager = open_manager("/b/c", "c", mountinfo=V2)
    assert isinstance(manager, V2Manager) and manager.path == "/sys/fs/cgroup/b/c"


def test_systemd_driver_is_refused_clearly():
    with pytest.raises(Unimplemented) as err:
        open_manager("system.slice:boxen:c", "c", mountinfo=HYBRID, systemd=True)
    assert err.value.field == "--systemd-cgroup"


def test_saved_managers_reopen_equal():
    v1 = open_manager("/b/c", "c", mountinfo=HYBRID)
    again = reopen(v1.saved())
    assert isinstance(again, V1Manager) and again.saved() == v1.saved()
    v2 = open_manager("/b/c", "c", mountinfo=V2)
    assert reopen(v2.saved()).saved() == v2.saved()


@pytest.mark.parametrize("saved", [None, {}, {"version": 3}, {"version": 2, "path": 1, "mount": "/"},
                                   {"version": 1, "paths": {"memory": "/x"}, "mounts": {}}])
def test_reopen_refuses_what_is_not_a_saved_manager(saved):
    with pytest.raises(InvalidArgument):
        reopen(saved)
