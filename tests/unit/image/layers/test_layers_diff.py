"""write_diff(): the changes between two trees as a reproducible tar layer, and back again."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from boxen.image.diff import diff_snapshot, write_diff
from boxen.image.layers import apply_layer, copy_tree
from boxen.image.snapshots.native import NativeSnapshotter

T = 1_600_000_000


def make(root, files: dict[str, bytes | str | None]) -> None:
    """``None``: a directory; ``str``: a symlink target; ``bytes``: a file."""
    for name, value in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if value is None:
            os.makedirs(path, exist_ok=True)
        elif isinstance(value, str):
            os.symlink(value, path)
        else:
            with open(path, "wb") as f:
                f.write(value)
    for directory, dirs, names in os.walk(root):
        for name in dirs + names:
            os.utime(os.path.join(directory, name), ns=(T * 10**9, T * 10**9), follow_symlinks=False)
    os.utime(root, ns=(T * 10**9, T * 10**9))


def names(blob: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(blob)) as t:
        return [m.name for m in t.getmembers()]


@pytest.fixture
def trees(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    make(lower, {"etc": None, "etc/hosts": b"h", "etc/gone": b"g", "usr": None, "usr/lib": None,
                 "usr/lib/old": None, "usr/lib/old/f": b"f", "usr/lib/same": b"s", "link": "etc/hosts"})
    upper.mkdir()
    copy_tree(str(lower), str(upper), chown=os.geteuid() == 0)
    return lower, upper


def diff(lower, upper, **kw) -> tuple[bytes, object]:
    out = io.BytesIO()
    result = write_diff(str(lower) if lower else None, str(upper), out, **kw)
    return out.getvalue(), result


def test_an_unchanged_copy_has_an_empty_diff(trees):
    blob, result = diff(*trees)
    assert names(blob) == [] and result.entries == 0


def test_additions_changes_and_deletions(trees):
    lower, upper = trees
    (upper / "etc/hosts").write_bytes(b"changed")
    os.unlink(upper / "etc/gone")
    import shutil

    shutil.rmtree(upper / "usr/lib/old")
    (upper / "usr/lib/new").write_bytes(b"n")
    os.unlink(upper / "link")
    os.symlink("elsewhere", upper / "link")
    blob, result = diff(lower, upper)
    assert names(blob) == ["etc", "etc/.wh.gone", "etc/hosts", "link", "usr", "usr/lib", "usr/lib/.wh.old",
                           "usr/lib/new"]
    assert result.whiteouts == 2


def test_applying_the_diff_to_the_lower_tree_gives_the_upper_tree(trees, tmp_path, layer):
    lower, upper = trees
    (upper / "etc/hosts").write_bytes(b"changed")
    os.chmod(upper / "usr/lib/same", 0o600)
    os.unlink(upper / "etc/gone")
    make(upper, {"new": None, "new/deep/file": b"d", "new/link": "deep/file"})
    os.link(upper / "new/deep/file", upper / "new/hard")
    blob, result = diff(lower, upper)
    replay = tmp_path / "replay"
    replay.mkdir()
    copy_tree(str(lower), str(replay), chown=os.geteuid() == 0)
    applied = apply_layer(io.BytesIO(blob), str(replay), rootless=os.geteuid() != 0)
    assert applied.diff_id == result.diff_id
    assert layer.tree(str(replay)) == layer.tree(str(upper))
    assert os.stat(replay / "new/hard").st_ino == os.stat(replay / "new/deep/file").st_ino
    assert os.lstat(replay / "new/deep/file").st_mtime_ns == os.lstat(upper / "new/deep/file").st_mtime_ns


def test_the_same_trees_give_the_same_bytes(trees):
    lower, upper = trees
    make(upper, {"b": b"2", "a": b"1", "c": None, "c/z": b"z", "c/y": b"y"})
    for compression in ("none", "gzip", "zstd"):
        first, r1 = diff(lower, upper, compression=compression)
        second, r2 = diff(lower, upper, compression=compression)
        assert first == second and r1 == r2
        assert r1.compression == compression
    plain, _ = diff(lower, upper)
    assert names(plain) == ["a", "b", "c", "c/y", "c/z"]  # sorted, a directory before its contents


def test_whiteouts_come_before_their_siblings(trees):
    lower, upper = trees
    os.unlink(upper / "etc/hosts")
    (upper / "etc/aaa").write_bytes(b"a")
    blob, _ = diff(lower, upper)
    assert names(blob) == ["etc", "etc/.wh.hosts", "etc/aaa"]


def test_without_a_lower_tree_everything_is_written(trees):
    lower, _ = trees
    blob, result = diff(None, lower)
    assert "etc/hosts" in names(blob) and result.whiteouts == 0


def test_diff_snapshot_on_the_native_snapshotter(tmp_path):
    s = NativeSnapshotter(str(tmp_path / "snaps"))
    try:
        root = s.prepare("k", None)[0].source
        make(root, {"keep": b"k", "drop": b"d"})
        out = io.BytesIO()
        first = diff_snapshot(s, "k", out, compression="gzip")
        assert first.compression == "gzip" and first.entries == 2
        s.commit("base", "k")
        child = s.prepare("k2", "base")[0].source
        os.unlink(os.path.join(child, "drop"))
        make(child, {"add": b"a"})
        out = io.BytesIO()
        diff_snapshot(s, "k2", out, compression="none")
        assert names(out.getvalue()) == [".wh.drop", "add"]
        assert [i.name for i in s.walk() if i.name.startswith("diff-")] == []  # the temporary view is gone
    finally:
        s.close()


def test_trees_nested_deeper_than_path_max_diff_and_replay(tmp_path):
    """300 directories of 20-byte names: the diff walks both trees by descriptor, writes the
    changed file, the whiteout and their parents, and the layer applies back by descriptor."""
    names_ = ["nested-directory-" + f"{n:03}" for n in range(300)]
    deep = "/".join(names_)
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for n in range(1, 301):
            info = tarfile.TarInfo("/".join(names_[:n]))
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, T
            tar.addfile(info)
        for name, data in (("kept", b"k"), ("gone", b"g"), ("changed", b"old")):
            info = tarfile.TarInfo(f"{deep}/{name}")
            info.size, info.mtime = len(data), T
            tar.addfile(info, io.BytesIO(data))
    lower, upper, replay = tmp_path / "lower", tmp_path / "upper", tmp_path / "replay"
    for d in (lower, upper, replay):
        d.mkdir()
    apply_layer(io.BytesIO(layer.getvalue()), str(lower), rootless=True)
    copy_tree(str(lower), str(upper), chown=False)
    apply_layer(io.BytesIO(layer.getvalue()), str(replay), rootless=True)
    change = io.BytesIO()
    with tarfile.open(fileobj=change, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"{deep}/changed")
        info.size, info.mtime = 3, T + 1
        tar.addfile(info, io.BytesIO(b"new"))
        tar.addfile(tarfile.TarInfo(f"{deep}/.wh.gone"))
    apply_layer(io.BytesIO(change.getvalue()), str(upper), rootless=True)  # native: the whiteout deletes
    out = io.BytesIO()
    result = write_diff(str(lower), str(upper), out)
    written = names(out.getvalue())
    assert written[-2:] == [f"{deep}/.wh.gone", f"{deep}/changed"] and len(written) == 302  # and the 300 parents
    assert result.whiteouts == 1
    apply_layer(io.BytesIO(out.getvalue()), str(replay), rootless=True)
    fd = os.open(replay, os.O_RDONLY)
    for name in names_:
        child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    try:
        assert sorted(os.listdir(fd)) == ["changed", "kept"]
        with open(f"/proc/self/fd/{fd}/changed", "rb") as f:
            assert f.read() == b"new"
    finally:
        os.close(fd)
