"""Privileged image tests: root, overlayfs mounts, owners and device nodes; everything cleaned up."""

from __future__ import annotations

import os

import pytest

from boxen.image.snapshots.probe import overlay_works
from boxen.image.testing.snapshotter import kernel_mounter
from boxen.runtime.host import unmount


@pytest.fixture
def root_dir(tmp_path):
    """A work directory for a test that needs root and working overlayfs; no mount left behind."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts, owners, device nodes)")
    if not overlay_works(str(tmp_path / "probe")):
        pytest.skip(f"overlayfs does not work on the file system of {tmp_path}")
    yield tmp_path
    with open("/proc/self/mountinfo") as f:
        leftover = [line.split()[4] for line in f if str(tmp_path) in line]
    for target in reversed(leftover):
        unmount(target, lazy=True)
    assert leftover == [], f"mounts left behind: {leftover}"


@pytest.fixture
def mounter(root_dir):
    (root_dir / "mnt").mkdir()
    return kernel_mounter(str(root_dir / "mnt"))
