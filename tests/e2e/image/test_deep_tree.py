"""An image whose layers nest 2,000 directories, deeper than PATH_MAX once unpacked: it pulls,
unpacks (a second layer adding and deleting at the bottom, over the first), shows the right
tree, is measured and removed, with either snapshotter, in time linear in its entries.

The directories are named ``dd``: 2,000 x 3 bytes make 6,000 bytes of path below the
snapshot's own directory, so every step has to go by descriptor. The layout is written here
and pushed to a loopback registry with skopeo.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import time

import pytest

from support import images

DEPTH = 2000
NAME = "dd"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _tar(entries) -> bytes:
    """A pax tar of ``(name, data or None for a directory)``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _path(depth: int) -> str:
    return "/".join([NAME] * depth)


def _layers() -> list[bytes]:
    first = [(_path(n), None) for n in range(1, DEPTH + 1)]
    first += [(_path(DEPTH) + "/bottom", b"first layer\n"), (_path(DEPTH // 2) + "/middle", b"m\n")]
    second = [(_path(DEPTH) + "/added", b"second layer\n"), (_path(DEPTH) + "/.wh.bottom", b""),
              (_path(DEPTH // 2) + "/more", b"2\n")]
    return [_tar(first), _tar(second)]


def _layout(directory) -> str:
    """An OCI image layout holding the two-layer image, tagged ``deep``."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes, media_type: str) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    tars = _layers()
    layers = [blob(gzip.compress(t, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip") for t in tars]
    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(t).hexdigest()}" for t in tars]}}
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST,
                "config": blob(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json"),
                "layers": layers}
    index = {"schemaVersion": 2, "manifests": [{**blob(json.dumps(manifest).encode(), MANIFEST),
                                                "annotations": {"org.opencontainers.image.ref.name": "deep"}}]}
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return str(directory)


def _listing(root: str, depth: int) -> list[str]:
    """The names in the directory ``depth`` levels of ``dd`` below ``root``, reached by descriptor."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            child = os.open(NAME, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
        return sorted(os.listdir(fd))
    finally:
        os.close(fd)


@pytest.mark.parametrize("kind", ["overlay", "native"])
def test_an_image_nested_deeper_than_path_max_pulls_and_is_removed(boxen_image, registry, tmp_path, kind):
    if os.geteuid() != 0:
        pytest.skip("needs root (the merged view is checked through a mount)")
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    from boxen.image.snapshots import open_snapshotter
    from boxen.runtime.host import mount_all, unmount

    ref = f"{registry.host}/deep/tree:{kind}"
    images.push(_layout(tmp_path / "layout"), "deep", ref)
    os.makedirs(os.path.join(boxen_image.root, "snapshots", kind))  # the kind this data root uses
    start = time.monotonic()
    boxen_image("pull", "-q", ref)
    pulled = time.monotonic() - start

    snapshotter = open_snapshotter(os.path.join(boxen_image.root, "snapshots"))
    view = tmp_path / "view"
    view.mkdir()
    try:
        infos = list(snapshotter.walk())
        assert len(infos) == 2
        (top,) = [i.name for i in infos if i.name not in {j.parent for j in infos}]
        start = time.monotonic()
        used = [snapshotter.usage(i.name) for i in infos]
        measured = time.monotonic() - start
        # the first layer: the directories, bottom and middle; the second: the directories (copied
        # up, or copied whole), added, more, and middle (native) or bottom's whiteout (overlay)
        assert sorted(u.inodes for u in used) == [DEPTH + 2, DEPTH + 3]
        mount_all(snapshotter.view("look", top), str(view))
        try:
            assert _listing(str(view), DEPTH) == ["added"]  # the first layer's file whited out
            assert _listing(str(view), DEPTH // 2) == [NAME, "middle", "more"]
        finally:
            unmount(str(view))
        snapshotter.remove("look")
    finally:
        snapshotter.close()

    start = time.monotonic()
    boxen_image("rm", ref)
    removed = time.monotonic() - start
    assert glob.glob(f"{boxen_image.root}/snapshots/*/snapshots/*") == []
    sys.stderr.write(f"{kind}: pull+unpack {pulled:.2f} s, usage {measured:.2f} s, rm {removed:.2f} s\n")
    assert pulled < 120  # linear: a few seconds here, where a walk from the root per entry took minutes
