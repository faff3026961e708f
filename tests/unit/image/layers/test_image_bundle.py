"""Image config -> runtime config: args, env, cwd, user from the image's own /etc files, annotations."""

from __future__ import annotations

import os
import stat

import pytest

from boxen.common.errors import InvalidArgument
from boxen.image.bundle import image_annotations, resolve_user, runtime_config
from boxen.oci import image as oci

PASSWD = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\napp:x:1000:1001::/home/app:/bin/sh\n"
GROUP = "root:x:0:\nwww:x:33:app\napp:x:1001:\nwheel:x:10:app,www\naudio:x:29:app\n"
BASE = {
    "ociVersion": "1.0.2-dev",
    "process": {"terminal": True, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
                "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"], "cwd": "/"},
    "root": {"path": "rootfs", "readonly": True},
}


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    return root


def image(**config) -> oci.ImageConfig:
    return oci.ImageConfig("arm64", "linux", oci.RootFS("layers", ()), variant="v8", created="2024-01-02T03:04:05Z",
                           author="someone", config=oci.ContainerConfig(**config))


def test_args_are_entrypoint_then_cmd(rootfs):
    spec = runtime_config(image(Entrypoint=("/entry", "-x"), Cmd=("arg",)), str(rootfs), base=BASE)
    assert spec["process"]["args"] == ["/entry", "-x", "arg"]
    assert runtime_config(image(Cmd=("/bin/sh", "-c", "true")), str(rootfs), base=BASE)["process"]["args"] == [
        "/bin/sh", "-c", "true"]
    assert runtime_config(image(), str(rootfs), base=BASE)["process"]["args"] == ["sh"]  # the template's


def test_env_keeps_the_image_values_and_adds_missing_defaults(rootfs):
    spec = runtime_config(image(Env=("FOO=1", "TERM=dumb")), str(rootfs), base=BASE)
    assert spec["process"]["env"] == ["FOO=1", "TERM=dumb", BASE["process"]["env"][0]]
    spec = runtime_config(image(Env=("PATH=/opt/bin",)), str(rootfs), base=BASE)
    assert spec["process"]["env"] == ["PATH=/opt/bin", "TERM=xterm"]


def test_working_dir(rootfs):
    assert runtime_config(image(WorkingDir="/srv"), str(rootfs), base=BASE)["process"]["cwd"] == "/srv"
    assert runtime_config(image(), str(rootfs), base=BASE)["process"]["cwd"] == "/"


def test_the_template_is_not_modified(rootfs):
    runtime_config(image(Env=("A=1",), User="app"), str(rootfs), base=BASE)
    assert BASE["process"]["user"] == {"uid": 0, "gid": 0} and len(BASE["process"]["env"]) == 2


@pytest.mark.parametrize("user, expected", [
    (None, {"uid": 0, "gid": 0}),
    ("www", {"uid": 33, "gid": 33, "additionalGids": [10]}),
    ("app", {"uid": 1000, "gid": 1001, "additionalGids": [33, 10, 29]}),
    ("1000", {"uid": 1000, "gid": 1001, "additionalGids": [33, 10, 29]}),  # found by number: docker's groups
    ("4242", {"uid": 4242, "gid": 0}),
    ("app:audio", {"uid": 1000, "gid": 29}),
    ("app:7", {"uid": 1000, "gid": 7}),
    ("33:wheel", {"uid": 33, "gid": 10}),
])
def test_user_is_resolved_in_the_images_files(rootfs, user, expected):
    assert resolve_user(user, str(rootfs)) == expected


def test_root_gets_its_groups_when_no_user_is_set(rootfs):
    (rootfs / "etc/group").write_text(GROUP + "adm:x:4:root,app\n")
    assert resolve_user(None, str(rootfs)) == {"uid": 0, "gid": 0, "additionalGids": [4]}
    assert runtime_config(image(), str(rootfs), base=BASE)["process"]["user"]["additionalGids"] == [4]
    # a rootless bundle's user namespace maps one id: no setgroups there
    assert runtime_config(image(), str(rootfs), base=BASE, rootless=True)["process"]["user"] == {"uid": 0, "gid": 0}
    (rootfs / "etc/group").unlink()
    os.mkfifo(rootfs / "etc/group")
    assert resolve_user(None, str(rootfs)) == {"uid": 0, "gid": 0}  # nothing asked for: no error


@pytest.mark.parametrize("user", ["nobody-here", "app:nogroup"])
def test_unknown_user_or_group_is_an_error(rootfs, user):
    with pytest.raises(InvalidArgument) as info:
        resolve_user(user, str(rootfs))
    assert info.value.field == "config.User"


def test_without_etc_passwd_only_numbers_work(tmp_path):
    assert resolve_user("12:34", str(tmp_path)) == {"uid": 12, "gid": 34}
    with pytest.raises(InvalidArgument):
        resolve_user("root", str(tmp_path))


def test_etc_passwd_as_a_symlink_out_of_the_root_is_read_inside_it(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("evil:x:0:0::/:/bin/sh\n")
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").symlink_to(str(outside / "passwd"))  # absolute: resolves inside the root
    with pytest.raises(InvalidArgument):
        resolve_user("evil", str(root))
    (root / str(outside).lstrip("/")).mkdir(parents=True)
    (root / str(outside).lstrip("/") / "passwd").write_text("inside:x:5:6::/:/bin/sh\n")
    assert resolve_user("inside", str(root)) == {"uid": 5, "gid": 6}


def test_a_fifo_in_place_of_etc_passwd_is_an_error_not_a_hang(rootfs):
    (rootfs / "etc/passwd").unlink()
    os.mkfifo(rootfs / "etc/passwd")  # opening it for reading would wait for a writer for ever
    with pytest.raises(InvalidArgument, match="/etc/passwd in the image is a FIFO, not a regular file") as caught:
        resolve_user("app", str(rootfs))
    assert caught.value.field == "/etc/passwd"


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root (CAP_MKNOD)")
def test_a_device_node_in_place_of_etc_group_is_an_error(rootfs):
    (rootfs / "etc/group").unlink()
    os.mknod(rootfs / "etc/group", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero's numbers
    with pytest.raises(InvalidArgument, match="/etc/group in the image is a character device"):
        resolve_user("app", str(rootfs))


def test_a_directory_walked_through_a_file_is_absent(rootfs):
    (rootfs / "etc/passwd").unlink()
    (rootfs / "etc/passwd").symlink_to("group/x")  # group is a file: nothing there
    assert resolve_user("12", str(rootfs)) == {"uid": 12, "gid": 0}


def test_annotations_from_the_config_and_labels_win():
    config = image(StopSignal="SIGTERM", ExposedPorts={"80/tcp": {}, "53/udp": {}},
                   Labels={"org.opencontainers.image.author": "the label", "custom": "x"})
    found = image_annotations(config)
    assert found["org.opencontainers.image.os"] == "linux"
    assert found["org.opencontainers.image.architecture"] == "arm64"
    assert found["org.opencontainers.image.variant"] == "v8"
    assert found["org.opencontainers.image.created"] == "2024-01-02T03:04:05Z"
    assert found["org.opencontainers.image.stopSignal"] == "SIGTERM"
    assert found["org.opencontainers.image.exposedPorts"] == "80/tcp,53/udp"
    assert found["org.opencontainers.image.author"] == "the label"
    assert found["custom"] == "x"
