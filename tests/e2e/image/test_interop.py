"""What boxen writes, read by the peers: skopeo, oci-image-tool, podman (running it with runc);
and what umoci/skopeo wrote, read by boxen."""

import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from support import images
from support.images import skopeo_digest

CGROUP_PARENT = "boxen-test-image-podman"


@pytest.fixture
def pulled(boxen_image, registry, busybox_layout):
    ref = f"{registry.host}/interop/busybox:latest"
    images.push(*busybox_layout, ref)
    boxen_image("pull", "--no-unpack", "-q", ref)
    return ref


def test_oci_layout_is_valid_and_readable_by_skopeo(boxen_image, pulled, tmp_path, registry):
    if shutil.which("oci-image-tool") is None:
        pytest.skip("oci-image-tool is not installed")
    directory = tmp_path / "layout"
    boxen_image("save", "--format", "oci-dir", "-o", str(directory), pulled)
    check = subprocess.run(["oci-image-tool", "validate", "--type", "image", "--ref", "name=latest", str(directory)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    digest = json.loads(boxen_image("inspect", pulled).stdout)["Target"]["digest"]
    inspect = json.loads(subprocess.run(["skopeo", "inspect", f"oci:{directory}:latest"], capture_output=True,
                                        check=True).stdout)
    assert inspect["Digest"] == digest
    archive = tmp_path / "layout.tar"
    boxen_image("save", "--format", "oci", "-o", str(archive), pulled)
    assert skopeo_digest(f"oci-archive:{archive}:latest") == digest
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{directory}:latest",
                    f"docker://{registry.host}/fromlayout/busybox:1"], check=True, capture_output=True)
    assert skopeo_digest(f"docker://{registry.host}/fromlayout/busybox:1", "--tls-verify=false") == digest


def test_load_umoci_layout_with_identical_digests(boxen_image, busybox_layout):
    layout, tag = busybox_layout
    out = boxen_image("load", "-i", layout, "--repository", "localhost/cached").stdout
    assert f"Loaded image: docker.io/library/localhost/cached:{tag}" not in out
    assert f"Loaded image: localhost/cached:{tag}" in out
    expected = skopeo_digest(f"oci:{layout}:{tag}")
    assert json.loads(boxen_image("inspect", f"localhost/cached:{tag}").stdout)["Target"]["digest"] == expected


def test_docker_archive_loads_into_podman_and_runs(boxen_image, pulled, tmp_path):
    for tool in ("podman", "runc", "conmon"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    archive = tmp_path / "busybox.tar"
    boxen_image("save", "-o", str(archive), pulled)
    assert skopeo_digest(f"docker-archive:{archive}")

    home = pathlib.Path(tempfile.mkdtemp(prefix="bxp-", dir="/tmp"))  # podman wants a short runroot
    for d in ("root", "runroot", "tmp", "net"):
        (home / d).mkdir()
    nofile = subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True, text=True).stdout.strip()
    (home / "containers.conf").write_text(
        f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc=32768:32768"]\n'
        '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
    env = {**os.environ, "CONTAINERS_CONF": str(home / "containers.conf")}
    podman = ["podman", "--root", str(home / "root"), "--runroot", str(home / "runroot"), "--tmpdir", str(home / "tmp"),
              "--network-config-dir", str(home / "net"), "--cgroup-manager", "cgroupfs", "--events-backend", "file",
              "--storage-driver", "vfs", "--runtime", shutil.which("runc")]
    try:
        load = subprocess.run([*podman, "load", "-i", str(archive)], capture_output=True, text=True, env=env)
        assert load.returncode == 0, load.stderr
        assert f"Loaded image: {pulled}" in load.stdout
        run = subprocess.run([*podman, "run", "--rm", "--network", "none", "--cgroup-parent", f"/{CGROUP_PARENT}",
                              pulled, "sh", "-c", "echo booted; head -1 /etc/passwd"],
                             capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        assert run.stdout.split() == ["booted", "root:x:0:0:root:/root:/bin/sh"]
    finally:
        subprocess.run([*podman, "rm", "-af", "-t", "0"], capture_output=True, env=env)
        subprocess.run([*podman, "rmi", "-af"], capture_output=True, env=env)
        for controller in os.listdir("/sys/fs/cgroup"):
            parent = os.path.join("/sys/fs/cgroup", controller, CGROUP_PARENT)
            for base, _, _ in os.walk(parent, topdown=False):
                try:
                    os.rmdir(base)
                except OSError:
                    pass
        shutil.rmtree(home, ignore_errors=True)
