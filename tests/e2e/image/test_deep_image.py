"""An image of 301 layers builds, and a RUN on it mounts all of them: the overlay's lowerdir list
outgrows mount(2)'s page, so the mount is made with fsconfig's lowerdir+ (Linux 6.8)."""

from __future__ import annotations

import os

import pytest

from support.boxen_image import BIN, BoxenImage

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (containers, mounts)")


def test_run_on_an_image_of_301_layers(tmp_path, busybox_layout):
    if not os.path.exists(BIN):
        pytest.skip(f"{BIN} is missing (make venv)")
    release = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
    if release < (6, 8):
        pytest.skip("overlayfs's lowerdir+ parameter needs Linux 6.8")
    boxen = BoxenImage(str(tmp_path / "root"))
    boxen("load", "-i", busybox_layout[0], "--repository", "localhost/test")
    context = tmp_path / "ctx"
    context.mkdir()
    for i in range(300):
        (context / f"f{i}").write_text(f"{i}\n")
    (context / "Dockerfile").write_text("FROM localhost/test:busybox\n" + "".join(f"COPY f{i} /f{i}\n" for i in range(300)))
    boxen("build", "-q", "-t", "localhost/deep:300", str(context))
    (context / "Dockerfile").write_text("FROM localhost/deep:300\nRUN cat /f0 /f299 > /both\n")
    out = boxen("build", "-t", "localhost/deep:301", str(context))
    assert "Successfully tagged localhost/deep:301" in out.stdout + out.stderr
    boxen("rm", "localhost/deep:301", "localhost/deep:300", "localhost/test:busybox")
    assert os.listdir(tmp_path / "root" / "snapshots" / "overlay" / "snapshots") == []
