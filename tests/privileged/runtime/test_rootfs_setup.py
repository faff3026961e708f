"""Building the container's tree, side by side with runc: bind sources in a user namespace, --no-pivot."""

import os

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
