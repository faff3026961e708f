"""The snapshotter conformance suite against every snapshotter: native, overlay (root) and the fake."""

from __future__ import annotations

import os

import pytest

from boxen.image.snapshots.native import NativeSnapshotter
from boxen.image.snapshots.overlay import OverlaySnapshotter
from boxen.image.snapshots.probe import overlay_works
from boxen.image.testing.snapshotter import CASES, FakeSnapshotter, direct_mounter, kernel_mounter


@pytest.fixture
def overlay_root(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the overlay snapshotter's mounts need root")
    if not overlay_works(str(tmp_path / "probe")):
        pytest.skip(f"overlayfs does not work on the file system of {tmp_path}")
    return tmp_path


@pytest.mark.parametrize("case", sorted(CASES))
def test_native(case, tmp_path):
    snapshotter = NativeSnapshotter(str(tmp_path / "native"))
    try:
        CASES[case](snapshotter, direct_mounter)
    finally:
        snapshotter.close()


@pytest.mark.privileged
@pytest.mark.parametrize("case", sorted(CASES))
def test_overlay(case, overlay_root):
    snapshotter = OverlaySnapshotter(str(overlay_root / "overlay"))
    mounts_dir = overlay_root / "mounts"
    mounts_dir.mkdir()
    try:
        CASES[case](snapshotter, kernel_mounter(str(mounts_dir)))
    finally:
        snapshotter.close()
        with open("/proc/self/mountinfo") as f:
            leftover = [line for line in f if str(overlay_root) in line]
        assert leftover == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_fake(case):
    CASES[case](FakeSnapshotter(), None)
