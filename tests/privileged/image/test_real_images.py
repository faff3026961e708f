"""The busybox and Debian test images unpacked by boxen and by umoci give the same files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess

import pytest

from boxen.common.schema import from_json
from boxen.image.snapshots.overlay import OverlaySnapshotter
from boxen.image.unpack import unpack, unpack_bundle
from boxen.oci import image as oci
from support import images


class LayoutBlobs:
    """Reads blobs of an OCI image layout in place (the shared test cache is never written)."""

    def __init__(self, layout: str) -> None:
        self.layout = layout

    def reader(self, digest: str):
        algorithm, encoded = digest.split(":")
        return open(os.path.join(self.layout, "blobs", algorithm, encoded), "rb")

    def document(self, digest: str, cls):
        with self.reader(digest) as f:
            return from_json(cls, json.load(f))


def image(name: str):
    try:
        layout, tag = getattr(images, name)()
    except images.ImageUnavailable as exc:
        pytest.skip(str(exc))
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    (descriptor,) = [m for m in index["manifests"] if m["annotations"][oci.ANNOTATION_REF_NAME] == tag]
    blobs = LayoutBlobs(layout)
    manifest = blobs.document(descriptor["digest"], oci.Manifest)
    return layout, tag, blobs, manifest, blobs.document(manifest.config.digest, oci.ImageConfig)


def tree(root: str) -> dict[str, tuple]:
    """Type and mode, owner, size, content hash, link target, device, mtime and xattrs of everything."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            extra = None
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(path)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                extra = st.st_rdev
            mtime = None if stat.S_ISDIR(st.st_mode) else st.st_mtime_ns
            xattrs = {k: os.getxattr(path, k, follow_symlinks=False) for k in os.listxattr(path, follow_symlinks=False)}
            found[os.path.relpath(path, root)] = (st.st_mode, st.st_uid, st.st_gid, mtime, extra, xattrs)
    return found


@pytest.fixture
def umoci_rootfs(root_dir):
    def make(layout: str, tag: str) -> str:
        if shutil.which("umoci") is None:
            pytest.skip("umoci is not installed")
        bundle = root_dir / "umoci-bundle"
        subprocess.run(["umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle)], check=True,
                       capture_output=True)
        return str(bundle / "rootfs")

    return make


@pytest.mark.parametrize("name", ["busybox", "debian"])
def test_overlay_unpack_matches_umoci(name, root_dir, mounter, umoci_rootfs):
    layout, tag, blobs, manifest, config = image(name)
    expected = tree(umoci_rootfs(layout, tag))
    snapshotter = OverlaySnapshotter(str(root_dir / "snapshots"))
    try:
        top = unpack(blobs, snapshotter, manifest, config)
        with mounter(snapshotter.view("check", top)) as root:
            assert tree(root) == expected
    finally:
        snapshotter.close()


@pytest.mark.parametrize("name", ["busybox", "debian"])
def test_bundle_matches_umoci(name, root_dir, umoci_rootfs):
    layout, tag, blobs, manifest, config = image(name)
    expected = tree(umoci_rootfs(layout, tag))
    unpack_bundle(blobs, manifest, config, str(root_dir / "bundle"))
    assert tree(str(root_dir / "bundle/rootfs")) == expected


def test_busybox_bundle_runs_with_runc(root_dir):
    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    _, _, blobs, manifest, config = image("busybox")
    bundle = root_dir / "bundle"
    unpack_bundle(blobs, manifest, config, str(bundle))
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["args"] == ["/bin/sh"] and spec["process"]["cwd"] == "/"
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/sh", "-c", "id -u; head -1 /etc/passwd"]
    (bundle / "config.json").write_text(json.dumps(spec))
    state = root_dir / "runc-state"
    name = f"boxen-fs-test-{os.getpid()}"
    try:
        run = subprocess.run(["runc", "--root", str(state), "run", "-b", str(bundle), name],
                             capture_output=True, text=True, timeout=60, check=False)
    finally:
        subprocess.run(["runc", "--root", str(state), "delete", "-f", name], capture_output=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:2] == ["0", "root:x:0:0:root:/root:/bin/sh"]
