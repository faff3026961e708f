"""Building the container's tree, side by side with runc: bind sources in a user namespace, --no-pivot."""

import os

import pytest

from support.bundle import base_config, make_bundle, make_traversable


def _in_user_namespace(config):
    linux = config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    config["mounts"] = [m for m in config["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    return config


def test_a_bind_source_in_a_root_only_directory_in_a_user_namespace(side_by_side, cid, tmp_path):
    """The source is opened by the host's root before the init enters the user namespace."""
    private = tmp_path / "private"
    (private / "data").mkdir(parents=True)
    (private / "data" / "file").write_text("behind a 0700 directory\n")
    private.chmod(0o700)
    config = _in_user_namespace(base_config(["sh", "-c", "cat /data/file; touch /data/new 2>&1 || echo read-only"]))
    config["mounts"].append({"destination": "/data", "type": "bind", "source": str(private / "data"),
                             "options": ["rbind", "ro"]})
    bundle = make_bundle(tmp_path, config)
    (bundle / "rootfs" / "data").mkdir()  # the container's root may not create it in the host's rootfs
    make_traversable(bundle)
    result = side_by_side.run(cid, bundle).check()
    assert result.stdout.splitlines() == ["behind a 0700 directory", "touch: /data/new: Read-only file system",
                                          "read-only"]
    assert not (private / "data" / "new").exists()
    assert os.stat(private).st_mode & 0o777 == 0o700


@pytest.mark.parametrize("mappings", [None, 0], ids=["container-userns", "own-mapping"])
def test_an_idmapped_bind_source_in_a_root_only_directory_in_a_user_namespace(boxen, cid, tmp_path, mappings):
    """An idmapped bind's source too is opened by the host's root (runc 1.1 has no idmapped
    mounts: boxen alone). A file the host's root owns shows as the container's root's, where a
    plain bind shows it unmapped (65534)."""
    private = tmp_path / "private"
    (private / "data").mkdir(parents=True)
    (private / "data" / "file").write_text("behind a 0700 directory\n")
    private.chmod(0o700)
    config = _in_user_namespace(base_config(["sh", "-c", "cat /data/file; stat -c %u:%g /data/file"]))
    mount = {"destination": "/data", "type": "bind", "source": str(private / "data"), "options": ["rbind", "idmap"]}
    if mappings is not None:  # the mount's own user namespace: host 0 seen as 200000, the container's 0
        mount["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 1}]
        mount["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 1}]
    config["mounts"].append(mount)
    bundle = make_bundle(tmp_path, config)
    (bundle / "rootfs" / "data").mkdir()
    make_traversable(bundle)
    result = boxen.run(cid, bundle)
    if result.returncode != 0 and "mount_setattr" in result.stderr and "not supported" in result.stderr.lower():
        pytest.skip(f"the host refuses idmapped mounts here: {result.stderr.strip()}")
    assert result.check().stdout.splitlines() == ["behind a 0700 directory", "0:0"]
    assert os.stat(private).st_mode & 0o777 == 0o700
    assert boxen.ids() == []


def test_a_mount_point_the_user_namespace_may_not_make_is_a_clear_error(side_by_side, cid, tmp_path):
    """The container's root (host uid 200000) may not write in the host's rootfs: the error
    names the mount point being made, and nothing is left behind."""
    source = tmp_path / "source"
    source.mkdir()
    config = _in_user_namespace(base_config(["true"]))
    config["mounts"].append({"destination": "/data", "type": "bind", "source": str(source), "options": ["rbind"]})
    bundle = make_bundle(tmp_path, config)
    make_traversable(bundle)
    result = side_by_side.run(cid, bundle)
    assert result.returncode != 0
    assert "mkdir" in result.stderr and "/data" in result.stderr
    assert "permission denied" in result.stderr.lower()
    assert "Errno" not in result.stderr
    assert side_by_side.ids() == []
    assert not (bundle / "rootfs" / "data").exists()


#: A process that owns new user, mount and pid (or network) namespaces tries a fresh procfs (sysfs).
NESTED_MOUNT = {
    "proc": "unshare -mrpf sh -c 'mount -t proc none /proc && echo mounted' 2>&1",
    "sysfs": "unshare -mrpfn sh -c 'mount -t sysfs none /sys && echo mounted' 2>&1",
}


@pytest.mark.parametrize("fstype", ["proc", "sysfs"])
@pytest.mark.parametrize("userns", [False, True], ids=["host-userns", "own-userns"])
def test_no_pivot_leaves_no_host_procfs_to_mount_a_bare_one(side_by_side, cid, tmp_path, userns, fstype):
    """With --no-pivot the host's proc and sysfs are detached (or covered) before the move, so
    the kernel refuses a fresh procfs or sysfs (mount_too_revealing)."""
    config = base_config(["sh", "-c", NESTED_MOUNT[fstype] + "; head -c 0 /proc/self/status && echo own-proc"])
    config["process"]["user"] = {"uid": 1000, "gid": 1000}  # unshare -r may map only its own uid
    if userns:
        config = _in_user_namespace(config)
    bundle = make_bundle(tmp_path, config)
    if userns:
        make_traversable(bundle)
    result = side_by_side.run(cid, bundle, "--no-pivot").check()
    assert "mounted" not in result.stdout
    assert result.stdout.splitlines() == ["mount: permission denied (are you root?)", "own-proc"]
