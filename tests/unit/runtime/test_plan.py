import pytest

from boxen.common.errors import InvalidArgument
from boxen.runtime import capabilities
from boxen.runtime.linux import constants as C
from boxen.runtime.plan import plan_container
from boxen.runtime.rootfs import parse_options

from support.specs import changed, spec_of


def plan(bundle_dir, config):
    return plan_container(spec_of(config), "c1", str(bundle_dir))


def test_runc_default_plan(bundle):
    path, config = bundle
    p = plan(path, config)
    assert p.new_kinds == ("pid", "network", "ipc", "uts", "mount")
    assert p.new_namespaces == C.CLONE_NEWPID | C.CLONE_NEWNET | C.CLONE_NEWIPC | C.CLONE_NEWUTS | C.CLONE_NEWNS
    assert p.rootfs.rootfs == str(path / "rootfs") and p.rootfs.readonly
    assert p.rootfs.propagation == C.MS_SLAVE | C.MS_REC
    assert [m.destination for m in p.rootfs.mounts][:3] == ["/proc", "/dev", "/dev/pts"]
    dev = p.rootfs.mounts[1]
    assert (dev.kind, dev.fstype, dev.flags, dev.data) == ("fs", "tmpfs", C.MS_NOSUID | C.MS_STRICTATIME,
                                                           "mode=755,size=65536k")
    assert p.rootfs.mounts[-1].kind == "cgroup"
    caps = p.process.capabilities
    assert capabilities.to_names(caps.bounding) == ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]
    assert caps.inheritable == 0
    assert p.process.rlimits == (("RLIMIT_NOFILE", 7, 1024, 1024),)
    assert p.process.no_new_privileges and p.hostname == "runc"
    assert [d.path for d in p.rootfs.devices] == ["/dev/null", "/dev/zero", "/dev/full", "/dev/tty",
                                                  "/dev/urandom", "/dev/random"]


def test_joined_namespaces_in_order(bundle):
    path, config = bundle
    config = changed(config, "linux.namespaces", [
        {"type": "mount", "path": "/proc/1/ns/mnt"}, {"type": "network", "path": "/proc/1/ns/net"},
        {"type": "user", "path": "/proc/1/ns/user"}, {"type": "uts"}])
    p = plan(path, config)
    assert [k for k, _ in p.joined] == ["user", "network", "mount"]
    assert p.new_kinds == ("uts",)


def test_bind_mounts(bundle):
    path, config = bundle
    (path / "data").mkdir()
    (path / "file").write_text("x")
    config = changed(config, "mounts", [
        {"destination": "/data", "type": "bind", "source": "data", "options": ["ro", "rprivate"]},
        {"destination": "etc/x", "type": "none", "source": str(path / "file"), "options": ["rbind", "nosuid"]},
    ])
    data, file = plan(path, config).rootfs.mounts
    assert (data.kind, data.source, data.flags, data.remount_flags) == ("bind", f"{path}/data", C.MS_BIND, C.MS_RDONLY)
    assert data.propagation == (C.MS_PRIVATE | C.MS_REC,) and data.target_type == "dir"
    assert (file.destination, file.flags, file.target_type) == ("/etc/x", C.MS_BIND | C.MS_REC, "file")


def test_bind_source_must_exist(bundle):
    path, config = bundle
    config = changed(config, "mounts", [{"destination": "/d", "type": "bind", "source": "/nonexistent-boxen"}])
    with pytest.raises(InvalidArgument, match="does not exist") as info:
        plan(path, config)
    assert info.value.field == "mounts[0].source"


def test_unknown_capability_is_an_error(bundle):
    path, config = bundle
    config = changed(config, "process.capabilities.effective", ["CAP_KILL", "CAP_BOGUS"])
    with pytest.raises(InvalidArgument, match="unknown capability 'CAP_BOGUS'") as info:
        plan(path, config)
    assert info.value.field == "process.capabilities.effective[1]"


def test_rootfs_propagation(bundle):
    path, config = bundle
    p = plan(path, changed(config, "linux.rootfsPropagation", "shared"))
    assert p.rootfs.propagation == C.MS_SHARED | C.MS_REC and p.rootfs.root_propagation == C.MS_SHARED
    with pytest.raises(InvalidArgument, match="unknown propagation"):
        plan(path, changed(config, "linux.rootfsPropagation", "sideways"))


def test_configured_devices(bundle):
    path, config = bundle
    config = changed(config, "linux.devices", [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600, "uid": 5},
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600}])
    devices = {d.path: d for d in plan(path, config).rootfs.devices}
    assert devices["/dev/fuse"].mode == 0o600 and devices["/dev/fuse"].uid == 5
    assert devices["/dev/null"].mode == 0o600  # the configured one replaces the default
    with pytest.raises(InvalidArgument, match="unknown device type"):
        plan(path, changed(config, "linux.devices", [{"path": "/dev/x", "type": "z", "major": 1, "minor": 1}]))
    with pytest.raises(InvalidArgument, match="under /dev"):
        plan(path, changed(config, "linux.devices", [{"path": "/etc/x", "type": "c", "major": 1, "minor": 1}]))


def test_mount_options():
    o = parse_options(("ro", "nosuid", "rw", "rslave", "mode=755", "size=1m", "tmpcopyup"), "mounts[0].options")
    assert o.flags == C.MS_NOSUID and o.propagation == (C.MS_SLAVE | C.MS_REC,)
    assert o.data == "mode=755,size=1m" and o.copyup
    r = parse_options(("rro", "rnosuid", "rnoatime", "rsuid"), "mounts[2].options")
    assert r.attr_set == C.MOUNT_ATTR_RDONLY | C.MOUNT_ATTR_NOATIME
    assert r.attr_clear == C.MOUNT_ATTR_NOSUID | C.MOUNT_ATTR__ATIME


def test_idmapped_mounts(bundle):
    path, config = bundle
    (path / "data").mkdir()
    maps = [{"containerID": 0, "hostID": 1000, "size": 1}]
    config = changed(config, "mounts", [
        {"destination": "/d", "type": "bind", "source": "data", "options": ["rbind"], "uidMappings": maps,
         "gidMappings": maps},
        {"destination": "/e", "type": "bind", "source": "data", "options": ["idmap"]}])
    d, e = plan(path, config).rootfs.mounts
    assert d.idmap == (True, ((0, 1000, 1),), ((0, 1000, 1),))
    assert e.idmap == (False, None, None)
    with pytest.raises(InvalidArgument, match="only bind mounts"):
        plan(path, changed(config, "mounts", [{"destination": "/t", "type": "tmpfs", "options": ["idmap"]}]))
    with pytest.raises(InvalidArgument, match="both uidMappings and gidMappings"):
        plan(path, changed(config, "mounts", [{"destination": "/d", "type": "bind", "source": "data",
                                               "uidMappings": maps}]))


def test_scheduling(bundle):
    path, config = bundle
    config = changed(config, "process.scheduler", {"policy": "SCHED_FIFO", "priority": 10,
                                                   "flags": ["SCHED_FLAG_RESET_ON_FORK"]})
    config = changed(config, "process.ioPriority", {"class": "IOPRIO_CLASS_BE", "priority": 3})
    s = plan(path, config).process.scheduling
    assert s.ioprio == 2 << 13 | 3
    assert s.sched_attr[:16] == (56).to_bytes(4, "little") + (1).to_bytes(4, "little") + (1).to_bytes(8, "little")
    with pytest.raises(InvalidArgument, match="outside 1..99") as info:
        plan(path, changed(config, "process.scheduler", {"policy": "SCHED_RR"}))
    assert info.value.field == "process.scheduler.priority"
    with pytest.raises(InvalidArgument, match="unknown class"):
        plan(path, changed(config, "process.ioPriority", {"class": "X", "priority": 1}))


def test_exec_cpu_affinity(bundle):
    path, config = bundle
    config = changed(config, "process.execCPUAffinity", {"initial": "0-2,5", "final": "1"})
    assert plan(path, config).process.cpu_affinity == (frozenset({0, 1, 2, 5}), frozenset({1}))
    with pytest.raises(InvalidArgument, match="CPU list"):
        plan(path, changed(config, "process.execCPUAffinity", {"initial": "a-b"}))


def test_user_namespace_mappings(bundle):
    path, config = bundle
    config = changed(config, "linux.namespaces", [{"type": "mount"}, {"type": "user"}])
    config = changed(config, "linux.uidMappings", [{"containerID": 0, "hostID": 100000, "size": 65536}])
    config = changed(config, "linux.gidMappings", [{"containerID": 0, "hostID": 100000, "size": 65536}])
    config = changed(config, "hostname", ...)
    p = plan(path, config)
    assert p.uid_mappings[0].host_id == 100000 and "user" in p.new_kinds
