"""An image of 301 layers: its overlay's lowerdir outgrows mount(2)'s one page of data, and still mounts.

The snapshots are made directly (a file per layer) rather than by unpacking tars; what is tested
is the mount of the active snapshot on top, as a build's RUN mounts it
(:func:`boxen.runtime.host.mount_all`), with the new mount API's ``lowerdir+`` parameters.
"""

from __future__ import annotations

import os

import pytest

from boxen.image.snapshots.overlay import OverlaySnapshotter
from boxen.runtime.host import mount_all, unmount

LAYERS = 301


def _kernel_has_lowerdir_plus() -> bool:
    release = os.uname().release.split("-")[0].split(".")
    return (int(release[0]), int(release[1])) >= (6, 8)


@pytest.fixture
def deep(root_dir):
    if not _kernel_has_lowerdir_plus():
        pytest.skip("overlayfs's lowerdir+ parameter needs Linux 6.8")
    s = OverlaySnapshotter(str(root_dir / "overlay"))
    parent = None
    for n in range(LAYERS):
        upper = s.prepare(f"key-{n}", parent)
        target = upper[0].source if upper[0].type == "bind" else dict(
            o.partition("=")[::2] for o in upper[0].options)["upperdir"]
        with open(os.path.join(target, f"layer-{n}"), "w") as f:
            f.write(str(n))
        s.commit(f"layer-{n}", f"key-{n}")
        parent = f"layer-{n}"
    yield s, parent
    s.close()


def test_an_active_snapshot_on_301_layers_mounts(deep, root_dir):
    s, top = deep
    mounts = s.prepare("container", top)
    (lowerdir,) = [o for o in mounts[0].options if o.startswith("lowerdir=")]
    assert len(",".join(mounts[0].options)) > 4096 and lowerdir.count(":") == LAYERS - 1
    target = root_dir / "rootfs"
    target.mkdir()
    mount_all(mounts, str(target))
    try:
        assert sorted(os.listdir(target)) == sorted(f"layer-{n}" for n in range(LAYERS))
        assert (target / "layer-0").read_text() == "0" and (target / "layer-300").read_text() == "300"
        (target / "new").write_text("written")  # into the upper directory
        os.unlink(target / "layer-7")  # a whiteout there
    finally:
        unmount(str(target))
    upper = dict(o.partition("=")[::2] for o in mounts[0].options)["upperdir"]
    assert sorted(os.listdir(upper)) == ["layer-7", "new"]


def test_a_view_of_301_layers_mounts_read_only(deep, root_dir):
    s, top = deep
    mounts = s.view("look", top)
    target = root_dir / "view"
    target.mkdir()
    mount_all(mounts, str(target))
    try:
        assert len(os.listdir(target)) == LAYERS
        with pytest.raises(OSError):
            (target / "new").write_text("x")
    finally:
        unmount(str(target))
