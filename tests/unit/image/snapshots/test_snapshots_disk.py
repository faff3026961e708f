"""Snapshotters without mounting: the mounts they return, their directories, metadata, the probe."""

from __future__ import annotations

import os
import sqlite3
import threading

import pytest

from boxen.common.errors import FailedPrecondition, InvalidArgument, KernelError
from boxen.image.snapshots import ACTIVE, COMMITTED, Mount, open_snapshotter
from boxen.image.snapshots import probe as probe_module
from boxen.image.snapshots.native import NativeSnapshotter
from boxen.image.snapshots.overlay import OverlaySnapshotter


@pytest.fixture
def overlay(tmp_path):
    s = OverlaySnapshotter(str(tmp_path / "overlay"))
    yield s
    s.close()


@pytest.fixture
def native(tmp_path):
    s = NativeSnapshotter(str(tmp_path / "native"))
    yield s
    s.close()


def fs(s, n: int) -> str:
    return f"{s.root}/snapshots/{n}/fs"


def test_overlay_mounts_as_data(overlay):
    assert overlay.prepare("a", None) == [Mount("bind", fs(overlay, 1), ("rbind", "rw"))]
    overlay.commit("l1", "a")
    assert not os.path.exists(f"{overlay.root}/snapshots/1/work")  # a committed layer keeps no work dir
    overlay.prepare("b", "l1")
    overlay.commit("l2", "b")
    mounts = overlay.prepare("c", "l2")
    assert mounts == [Mount("overlay", "overlay", (
        "index=off", f"workdir={overlay.root}/snapshots/3/work", f"upperdir={fs(overlay, 3)}",
        f"lowerdir={fs(overlay, 2)}:{fs(overlay, 1)}"))]  # nearest parent on top
    assert overlay.view("v1", "l1") == [Mount("bind", fs(overlay, 1), ("rbind", "ro"))]
    assert overlay.view("v2", "l2") == [Mount("overlay", "overlay", ("index=off", f"lowerdir={fs(overlay, 2)}:{fs(overlay, 1)}"))]
    assert overlay.view("v0", None) == [Mount("bind", fs(overlay, 6), ("rbind", "ro"))]
    assert overlay.mounts("c") == mounts


def test_overlay_refuses_roots_that_mount_options_cannot_name(tmp_path):
    with pytest.raises(InvalidArgument) as info:
        OverlaySnapshotter(str(tmp_path / "a,b"))
    assert info.value.field == "root"


def test_native_prepare_copies_the_parent_and_views_do_not(native):
    root = native.prepare("a", None)[0].source
    with open(os.path.join(root, "file"), "w") as f:
        f.write("content")
    os.symlink("file", os.path.join(root, "link"))
    native.commit("base", "a")
    child = native.prepare("b", "base")
    assert child == [Mount("bind", fs(native, 2), ("rbind", "rw"))]
    with open(os.path.join(fs(native, 2), "file")) as f:
        assert f.read() == "content"
    assert os.readlink(os.path.join(fs(native, 2), "link")) == "file"
    assert native.view("v", "base") == [Mount("bind", fs(native, 1), ("rbind", "ro"))]
    assert os.listdir(fs(native, 3)) == []


def test_commit_records_usage(native):
    root = native.prepare("a", None)[0].source
    with open(os.path.join(root, "f"), "wb") as f:
        f.write(b"x" * 100_000)
    os.link(os.path.join(root, "f"), os.path.join(root, "g"))
    native.commit("c", "a")
    used = native.usage("c")
    assert used.inodes == 1 and 100_000 <= used.size < 200_000  # the hardlink is counted once


def test_usage_of_a_committed_snapshot_is_measured_once(native):
    root = native.prepare("a", None)[0].source
    with open(os.path.join(root, "f"), "wb") as f:
        f.write(b"x" * 10_000)
    native.commit("c", "a")
    first = native.usage("c")
    os.unlink(os.path.join(fs(native, 1), "f"))  # (committed files never change; this shows it is remembered)
    assert native.usage("c") == first and first.inodes == 1


def test_remove_deletes_the_directory(native):
    root = native.prepare("a", None)[0].source
    os.makedirs(os.path.join(root, "deep/er"))
    os.chmod(os.path.join(root, "deep"), 0o500)
    native.remove("a")
    assert os.listdir(os.path.join(native.root, "snapshots")) == []


def test_a_failing_prepare_leaves_no_row_and_no_directory(native, monkeypatch):
    native.prepare("a", None)
    native.commit("base", "a")

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("boxen.image.snapshots.native.copy_tree", broken)
    with pytest.raises(KernelError, match="No space left"):
        native.prepare("b", "base")
    assert [i.name for i in native.walk()] == ["base"]
    assert os.listdir(os.path.join(native.root, "snapshots")) == ["1"]


def test_cleanup_removes_directories_no_snapshot_owns(native):
    native.prepare("a", None)
    os.makedirs(os.path.join(native.root, "snapshots", "77", "fs"))
    os.makedirs(os.path.join(native.root, "snapshots", "rm-5"))
    assert sorted(native.cleanup()) == ["77", "rm-5"]
    assert os.listdir(os.path.join(native.root, "snapshots")) == ["1"]


def test_two_snapshotters_on_one_root_see_each_others_changes(tmp_path):
    one = NativeSnapshotter(str(tmp_path / "shared"))
    two = NativeSnapshotter(str(tmp_path / "shared"))
    try:
        one.prepare("a", None)
        assert two.stat("a").kind == ACTIVE
        two.commit("c", "a")
        assert one.stat("c").kind == COMMITTED
        with pytest.raises(FailedPrecondition):
            one.commit("d", "c")
    finally:
        one.close()
        two.close()


def test_concurrent_commits_of_one_name_let_exactly_one_win(tmp_path):
    roots = [NativeSnapshotter(str(tmp_path / "shared")) for _ in range(4)]
    for i, s in enumerate(roots):
        s.prepare(f"k{i}", None)
    results = []

    def commit(i, s):
        try:
            s.commit("chain", f"k{i}")
            results.append("won")
        except Exception as exc:  # noqa: BLE001
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=commit, args=(i, s)) for i, s in enumerate(roots)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["AlreadyExists"] * 3 + ["won"]
    for s in roots:
        s.close()


def test_metadata_is_sqlite_with_parents_by_name(native):
    native.prepare("a", None)
    native.commit("base", "a")
    native.prepare("b", "base")
    db = sqlite3.connect(os.path.join(native.root, "metadata.db"))
    rows = db.execute("SELECT name, parent, kind FROM snapshots ORDER BY id").fetchall()
    db.close()
    assert rows == [("base", None, "committed"), ("b", "base", "active")]


def test_open_snapshotter_kinds(tmp_path, monkeypatch):
    s = open_snapshotter(str(tmp_path), "native")
    assert s.kind == "native" and s.root == str(tmp_path / "native")
    s.close()
    s = open_snapshotter(str(tmp_path), "auto")  # the kind in use is kept, without probing
    assert s.kind == "native"
    s.close()
    with pytest.raises(InvalidArgument):
        open_snapshotter(str(tmp_path), "zfs")


def test_auto_probes_once_and_without_root_chooses_native(tmp_path, monkeypatch):
    monkeypatch.setattr(probe_module.os, "geteuid", lambda: 1000)
    assert probe_module.overlay_works(str(tmp_path)) is False
    s = open_snapshotter(str(tmp_path / "fresh"), "auto")
    assert s.kind == "native"
    s.close()


def _in_child(work) -> None:
    """Run ``work()`` in a child process that is then killed (SIGKILL: no clean-up of any kind)."""
    import signal

    pid = os.fork()
    if pid == 0:
        try:
            work()
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_work_of_a_killed_process_is_reaped_and_live_work_is_not(tmp_path):
    from boxen.image.snapshots import WORK_LABEL

    root = str(tmp_path / "native")
    s = NativeSnapshotter(root)
    s.prepare("base-key", None)
    s.commit("base", "base-key")
    s.prepare("mine", "base", {WORK_LABEL: "unpack"})
    s.prepare("container", "base")  # not work: kept whoever made it

    def killed() -> None:
        child = NativeSnapshotter(root)
        upper = child.prepare("extract-dead", "base", {WORK_LABEL: "unpack"})[0].source
        with open(f"{upper}/partial", "wb") as f:
            f.write(b"x" * 100_000)

    _in_child(killed)
    assert {i.name for i in s.walk()} == {"base", "mine", "container", "extract-dead"}
    other = NativeSnapshotter(root)  # another command: it sees "mine" held by a live process
    try:
        assert other.reap() == ["extract-dead"]
        assert {i.name for i in other.walk()} == {"base", "mine", "container"}
        assert other.reap() == []
    finally:
        other.close()
    s.commit("done", "mine")
    assert WORK_LABEL not in s.stat("done").labels
    assert sorted(os.listdir(f"{root}/snapshots")) == ["1", "2", "3"]
    s.close()


def test_a_removal_cut_short_is_finished_by_reap_but_not_while_it_runs(tmp_path):
    from boxen.image.snapshots.base import _lock

    s = NativeSnapshotter(str(tmp_path / "native"))
    doomed = os.path.join(s.root, "snapshots", "rm-9")
    os.makedirs(os.path.join(doomed, "fs", "deep"))
    lock = _lock(doomed)  # a live removal holds it
    try:
        assert s.reap() == []
        assert os.path.isdir(doomed)
    finally:
        os.close(lock)
    assert s.reap() == ["rm-9"]
    assert os.listdir(os.path.join(s.root, "snapshots")) == []
    s.close()


def test_removing_an_active_snapshot_frees_its_files_even_if_its_row_cannot_go(native, monkeypatch):
    from boxen.common.errors import KernelError
    from boxen.image.snapshots import WORK_LABEL
    from boxen.image.snapshots.metadata import Transaction

    upper = native.prepare("extract", None, {WORK_LABEL: "unpack"})[0].source
    with open(f"{upper}/big", "wb") as f:
        f.write(b"x" * 100_000)

    def full(self, *args):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Transaction, "delete", full)
    with pytest.raises(KernelError, match="No space left on device.*prune"):
        native.remove("extract")
    assert os.listdir(os.path.join(native.root, "snapshots")) == []  # the space came back first
    monkeypatch.undo()
    assert native.reap() == ["extract"]  # nobody holds it any more: the next reap removes the row
    assert list(native.walk()) == []
