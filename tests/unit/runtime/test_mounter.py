"""The order and targets of the mount calls, with a recording kernel (no root needed)."""

import os

import pytest

from boxen.common import posixos
from boxen.runtime import mounter
from boxen.runtime.linux import constants as C
from boxen.runtime.linux.fake import FakeKernel
from boxen.runtime.mounter import Mounter, open_bind_sources
from boxen.runtime.plan import plan_container
from support.specs import changed, spec_of


def _mounter(path, config):
    plan = plan_container(spec_of(config), "c1", str(path)).rootfs.replace(setup_dev=False)
    k = FakeKernel()
    return Mounter(k, plan, in_userns=False, cgroup_mounts=(("memory", "/sys/fs/cgroup/memory/c1"),)), k


def test_prepare_stops_propagation_then_binds_rootfs_then_mounts_in_order(bundle):
    path, config = bundle
    m, k = _mounter(path, config)
    m.prepare()
    os.close(m.root_fd)
    mounts = [c for c in k.calls if c[0] == "mount"]
    assert mounts[0] == ("mount", None, "/", None, C.MS_SLAVE | C.MS_REC, None)
    assert mounts[1][1:5] == (str(path / "rootfs"), str(path / "rootfs"), None, C.MS_BIND | C.MS_REC)
    targets = [c[2] for c in mounts[2:]]
    assert targets[:6] == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"]
    # cgroup v1: a tmpfs, then the container's own cgroup of each hierarchy, read-only
    assert targets[6:] == ["/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory"]
    assert mounts[-1][4] & C.MS_REMOUNT and mounts[-1][4] & C.MS_RDONLY
    # the directories were made inside the rootfs
    assert (path / "rootfs" / "sys" / "fs" / "cgroup").is_dir()


def test_bind_remount_goes_through_the_new_mount(bundle):
    path, config = bundle
    (path / "data").mkdir()
    config = changed(config, "mounts", [{"destination": "/data", "type": "bind", "source": "data",
                                         "options": ["rbind", "ro", "rprivate"]}])
    m, k = _mounter(path, config)
    m.prepare()
    os.close(m.root_fd)
    bind, remount, private = [c for c in k.calls if c[0] == "mount"][2:]
    assert bind[1:5] == (str(path / "data"), "/data", None, C.MS_BIND | C.MS_REC)
    assert remount[1:5] == (None, "/data", None, C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY)
    assert private[4] == C.MS_PRIVATE | C.MS_REC


def test_switch_root_pivots_and_detaches_the_old_root(bundle, monkeypatch):
    path, config = bundle
    m, k = _mounter(path, config)
    monkeypatch.setattr(posixos, "chdir", lambda p: None)
    monkeypatch.setattr(posixos, "fchdir", lambda fd: None)
    m.switch_root()
    assert k.names() == ["pivot_root", "mount", "umount"]
    assert k.calls[1] == ("mount", None, ".", None, C.MS_SLAVE | C.MS_REC, None)
    assert k.calls[2] == ("umount", ".", C.MNT_DETACH)


def test_no_pivot_detaches_the_host_proc_and_sys_then_moves_and_chroots(bundle, monkeypatch):
    path, config = bundle
    m, k = _mounter(path, config)
    m.plan = m.plan.replace(no_pivot=True)
    monkeypatch.setattr(posixos, "chdir", lambda p: None)
    monkeypatch.setattr(mounter, "revealing_mounts", lambda text, rootfs: ["/proc", "/sys"])
    m.switch_root()
    assert k.calls[:4] == [("mount", None, "/proc", None, C.MS_SLAVE | C.MS_REC, None), ("umount", "/proc", C.MNT_DETACH),
                           ("mount", None, "/sys", None, C.MS_SLAVE | C.MS_REC, None), ("umount", "/sys", C.MNT_DETACH)]
    assert [c[0] for c in k.calls[4:]] == ["mount", "chroot"]
    assert k.calls[4][4] == C.MS_MOVE


def test_make_in_root_makes_what_is_missing_and_follows_a_dangling_symlink(bundle):
    path, config = bundle
    m, _k = _mounter(path, config)
    rootfs = path / "rootfs"
    (rootfs / "a").mkdir()
    os.symlink("a/x", rootfs / "link")  # dangling: a/x does not exist yet
    m.root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY)
    try:
        for target, kind in (("/a/b/c/d", "dir"), ("/a/b/file", "file"), ("/link/y", "dir"), ("/a", "dir")):
            os.close(m.make_in_root(target, kind))
    finally:
        os.close(m.root_fd)
    assert (rootfs / "a" / "b" / "c" / "d").is_dir()
    assert (rootfs / "a" / "b" / "file").is_file()
    assert (rootfs / "a" / "x" / "y").is_dir() and (rootfs / "link").is_symlink()


def test_bind_sources_are_opened_beforehand_as_detached_trees(bundle):
    path, config = bundle
    (path / "a").mkdir()
    (path / "b").mkdir()
    config = changed(config, "mounts", [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/a", "type": "bind", "source": "a", "options": ["rbind"]},
        {"destination": "/b", "type": "bind", "source": "b", "options": ["bind", "ro"]}])
    plan = plan_container(spec_of(config), "c1", str(path))
    k = FakeKernel()
    assert open_bind_sources(k, plan) == {}  # no user namespace: the init, host's root, binds by path
    trees = open_bind_sources(k, plan.replace(new_kinds=(*plan.new_kinds, "user")))
    assert sorted(trees) == [1, 2]  # mount index -> the fake's descriptor (of /dev/null)
    for fd in trees.values():
        os.close(fd)
    joined_mount = plan.replace(new_kinds=(*plan.new_kinds, "user"), joined=(("mount", "/proc/1/ns/mnt"),))
    assert open_bind_sources(k, joined_mount) == {}  # the sources are paths of the joined namespace
    assert k.calls == [
        ("open_tree", C.AT_FDCWD, str(path / "a"), C.OPEN_TREE_CLONE | os.O_CLOEXEC | C.AT_RECURSIVE),
        ("open_tree", C.AT_FDCWD, str(path / "b"), C.OPEN_TREE_CLONE | os.O_CLOEXEC),
    ]


def test_a_bind_source_opened_beforehand_is_attached_not_mounted_by_path(bundle):
    path, config = bundle
    (path / "data").mkdir()
    config = changed(config, "mounts", [{"destination": "/data", "type": "bind", "source": "data",
                                         "options": ["rbind", "ro"]}])
    plan = plan_container(spec_of(config), "c1", str(path)).rootfs.replace(setup_dev=False)
    tree = os.open(os.devnull, os.O_RDONLY)
    k = FakeKernel()
    m = Mounter(k, plan, in_userns=False, source_fds={0: tree})
    m.prepare()
    os.close(m.root_fd)
    assert [c[0] for c in k.calls][2:] == ["move_mount", "mount"]
    assert k.calls[2][1] == tree and k.calls[2][-1] == "/data"
    assert k.calls[3][1:5] == (None, "/data", None, C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY)
    assert m.source_fds == {}
    with pytest.raises(OSError):  # closed once attached
        os.fstat(tree)


def test_idmapped_bind_sources_are_opened_and_idmapped_by_the_runtime(bundle):
    """The init may attach, not change, a tree the host's namespace owns: the runtime idmaps it,
    with the mount's own mapping at once, with the container's once its maps are written."""
    path, config = bundle
    (path / "own").mkdir()
    (path / "theirs").mkdir()
    config = changed(config, "mounts", [
        {"destination": "/own", "type": "bind", "source": "own", "options": ["bind", "idmap"],
         "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
         "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]},
        {"destination": "/theirs", "type": "bind", "source": "theirs", "options": ["rbind", "ridmap"]}])
    plan = plan_container(spec_of(config), "c1", str(path))
    plan = plan.replace(new_kinds=(*plan.new_kinds, "user"))
    k = FakeKernel()
    trees = open_bind_sources(k, plan)
    try:
        assert sorted(trees) == [0, 1]
        mounter.idmap_sources(k, plan, trees, {"/own": 71})
        mounter.idmap_sources(k, plan, trees, {"/own": 71}, userns_fd=72)
    finally:
        for fd in trees.values():
            os.close(fd)
    assert k.calls[2:] == [
        ("mount_setattr", trees[0], "/own", C.AT_EMPTY_PATH, C.MOUNT_ATTR_IDMAP, 0, 71),
        ("mount_setattr", trees[1], "/theirs", C.AT_EMPTY_PATH | C.AT_RECURSIVE, C.MOUNT_ATTR_IDMAP, 0, 72),
    ]
    assert k.calls[1][3] & C.AT_RECURSIVE  # ridmap: the tree is cloned recursively


def test_an_idmapped_source_opened_beforehand_is_only_attached(bundle):
    path, config = bundle
    (path / "data").mkdir()
    config = changed(config, "mounts", [{"destination": "/data", "type": "bind", "source": "data",
                                         "options": ["rbind", "idmap"]}])
    plan = plan_container(spec_of(config), "c1", str(path)).rootfs.replace(setup_dev=False)
    tree = os.open(os.devnull, os.O_RDONLY)
    k = FakeKernel()
    m = Mounter(k, plan, in_userns=True, source_fds={0: tree})
    m.prepare()
    os.close(m.root_fd)
    assert [c[0] for c in k.calls][2:] == ["move_mount"]


def test_an_overlay_whose_options_outgrow_a_page_is_mounted_parameter_by_parameter(bundle):
    path, config = bundle
    lowers = [f"/var/lib/layers/a-rather-long-layer-directory-name-{n:03}" for n in range(300)]
    options = [f"lowerdir={':'.join(lowers)}", "upperdir=/u", "workdir=/w", "ro"]
    config = changed(config, "mounts", [{"destination": "/deep", "type": "overlay", "source": "overlay",
                                         "options": options}])
    m, k = _mounter(path, config)
    m.prepare()
    os.close(m.root_fd)
    assert "/deep" not in [c[2] for c in k.calls if c[0] == "mount"]  # not by mount(2)
    configs = [c for c in k.calls if c[0] == "fsconfig"]
    assert [c[3] for c in configs] == ["lowerdir+"] * 300 + ["upperdir", "workdir", None]
    assert configs[-1][2] == C.FSCONFIG_CMD_CREATE and all(c[4] == "/deep" for c in configs)
    fsmount, move = [c for c in k.calls if c[0] in ("fsmount", "move_mount")]
    assert fsmount[2] == C.MOUNT_ATTR_RDONLY and move[4] == "/deep"
