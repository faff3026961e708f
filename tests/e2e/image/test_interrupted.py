"""``boxen-image pull`` killed with SIGKILL while it unpacks: the next command finds the dead
process's work and removes it (its lock on the snapshot died with it); ``prune`` frees the rest."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import time

import pytest

from support import images
from support.boxen_image import BIN


def _snapshot_dirs(root: str) -> list[str]:
    return sorted(os.path.basename(p) for p in glob.glob(f"{root}/snapshots/*/snapshots/*"))


def _active_extract(root: str) -> bool:
    """Whether an unpack has an active snapshot with files in it (SQLite's WAL is read by sqlite3)."""
    import sqlite3

    (db,) = glob.glob(f"{root}/snapshots/*/metadata.db") or [None]
    if db is None:
        return False
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            rows = conn.execute("SELECT id FROM snapshots WHERE kind = 'active' AND name LIKE 'extract-%'").fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return False
    return any(os.listdir(f) for (i,) in rows for f in glob.glob(f"{root}/snapshots/*/snapshots/{i}/fs"))


def test_pull_killed_while_unpacking_leaves_nothing_after_prune(boxen_image, registry, debian_layout):
    pytest.importorskip("boxen.image.unpack", reason="unpack is not in this build")
    ref = f"{registry.host}/interrupted/debian:latest"
    images.push(*debian_layout, ref)
    proc = subprocess.Popen([BIN, "--root", boxen_image.root, "pull", "-q", ref], env=boxen_image.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not _active_extract(boxen_image.root):
            assert proc.poll() is None, "the pull ended before it was caught unpacking"
            assert time.monotonic() < deadline, "no unpack seen within 120 s"
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert boxen_image("ls", "-q").stdout.split() == []  # no name for a half-pulled image
    assert _snapshot_dirs(boxen_image.root) != []  # what the dead pull left
    out = boxen_image("prune").stdout
    assert "left by a process that is gone" in out
    assert _snapshot_dirs(boxen_image.root) == []
    assert os.listdir(f"{boxen_image.root}/content/ingest") == []
    assert glob.glob(f"{boxen_image.root}/content/blobs/sha256/*") == []
    boxen_image("pull", "-q", ref)  # and the data root works
    assert boxen_image("ls", "-q").stdout.split() == [ref]


def _mounts_under(root: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if f" {root}/" in line]


def test_build_killed_during_run_leaves_nothing_after_prune(tmp_path, busybox_layout):
    if os.geteuid() != 0:
        pytest.skip("builds need root (containers, mounts)")
    from support.boxen_image import BoxenImage

    boxen = BoxenImage(str(tmp_path / "root"))
    boxen("load", "-i", busybox_layout[0], "--repository", "localhost/test")
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM localhost/test:busybox\nRUN touch /started && sleep 60\n")
    proc = subprocess.Popen([BIN, "--root", boxen.root, "build", "-t", "localhost/killed", str(context)],
                            env=boxen.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not glob.glob(f"{boxen.root}/snapshots/*/snapshots/*/fs/started"):
            assert proc.poll() is None, "the build ended before its RUN started"
            assert time.monotonic() < deadline, "the RUN did not start within 60 s"
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    try:
        assert _mounts_under(boxen.root) != []  # the dead build's mounts (and its container) are still there
        out = boxen("prune").stdout
        assert "left by a build that died" in out
        assert _mounts_under(boxen.root) == []
        assert os.listdir(f"{boxen.root}/build/tmp") == []
        from boxen.image.snapshots import COMMITTED, open_snapshotter

        snapshotter = open_snapshotter(os.path.join(boxen.root, "snapshots"))
        try:
            kept = list(snapshotter.walk())
        finally:
            snapshotter.close()
        assert [s.kind for s in kept] == [COMMITTED]  # busybox's layer, which the image references
        assert len(_snapshot_dirs(boxen.root)) == 1
        assert "localhost/test:busybox" in boxen("ls", "-q").stdout.split()
    finally:  # if prune failed: the dead build's container, then its mounts
        runtime = [os.path.join(os.path.dirname(BIN), "boxen-runtime"), "--root", f"{boxen.root}/build/runtime"]
        if os.path.isdir(f"{boxen.root}/build/runtime"):
            listed = subprocess.run([*runtime, "list", "-q"], capture_output=True, text=True).stdout.split()
            for container in listed:
                subprocess.run([*runtime, "delete", "-f", container], check=False, capture_output=True)
        for point in sorted(_mounts_under(boxen.root), reverse=True):
            subprocess.run(["umount", "-l", point], check=False)
