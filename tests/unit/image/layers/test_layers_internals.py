"""The pieces under apply_layer: the decompressing stream, in-root paths, whole-tree helpers."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import threading

import pytest
import zstandard

from boxen.common.errors import InvalidArgument, NotFound
from boxen.image.layers import copy_tree, remove_tree, usage
from boxen.image.layers.paths import Resolver, clean, resolve
from boxen.image.layers.stream import CHUNK, LayerStream, sniff


def drain(stream: LayerStream) -> bytes:
    out = []
    while chunk := stream.next_chunk():
        assert len(chunk) <= CHUNK
        out.append(chunk)
    return b"".join(out)


# --- stream ------------------------------------------------------------------------------------


def test_sniff():
    assert sniff(gzip.compress(b"x")) == "gzip"
    assert sniff(zstandard.ZstdCompressor().compress(b"x")) == "zstd"
    assert sniff(b"etc/passwd\0") == sniff(b"") == "none"


def test_output_is_bounded_however_well_the_data_compresses():
    data = bytes(40 << 20)
    for blob in (gzip.compress(data), zstandard.ZstdCompressor().compress(data)):
        stream = LayerStream(io.BytesIO(blob))
        assert drain(stream) == data
        assert stream.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
        assert stream.size == len(blob)


def test_concatenated_gzip_members_and_zero_padding():
    blob = gzip.compress(b"one") + gzip.compress(b"two") + bytes(300)
    stream = LayerStream(io.BytesIO(blob))
    assert drain(stream) == b"onetwo"
    assert stream.digest == "sha256:" + hashlib.sha256(blob).hexdigest()


def test_concatenated_zstd_frames():
    c = zstandard.ZstdCompressor()
    assert drain(LayerStream(io.BytesIO(c.compress(b"one") + c.compress(b"two")))) == b"onetwo"


def test_garbage_after_gzip_is_refused():
    with pytest.raises(InvalidArgument, match="after the end of the gzip stream"):
        drain(LayerStream(io.BytesIO(gzip.compress(b"x") + b"garbage")))


def test_sha512_digests_are_checked_too():
    blob = gzip.compress(b"data")
    digest = "sha512:" + hashlib.sha512(blob).hexdigest()
    stream = LayerStream(io.BytesIO(blob), digest=digest)
    drain(stream)
    assert stream.digest == digest


def test_close_stops_the_thread_midway():
    stream = LayerStream(io.BytesIO(os.urandom(30 << 20)))
    stream.next_chunk()
    stream.close()
    assert not any(t.name == "layer-decompress" for t in threading.enumerate())


# --- paths -------------------------------------------------------------------------------------


def test_clean():
    assert clean("./a//b/./c/") == ["a", "b", "c"]
    assert clean("a/../b") == ["b"]
    assert clean(".") == clean("") == []
    for bad in ("..", "../a", "a/../../b", "/etc"):
        with pytest.raises(InvalidArgument):
            clean(bad)


def test_resolve_follows_links_inside_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/x").write_text("x")
    os.symlink("usr/lib", root / "lib")
    os.symlink("/usr", root / "abs")
    os.symlink("../../../..", root / "up")
    assert resolve(str(root), "/lib/x") == str(root / "usr/lib/x")
    assert resolve(str(root), "abs/lib/../lib/x") == str(root / "usr/lib/x")
    assert resolve(str(root), "/up/up/usr") == str(root / "usr")
    with pytest.raises(NotFound):
        resolve(str(root), "/missing/x")


def test_resolver_creates_missing_parents_and_follows_symlinks_inside(tmp_path):
    (tmp_path / "usr/lib").mkdir(parents=True)
    os.symlink("usr/lib", tmp_path / "lib")
    made = []
    resolver = Resolver(str(tmp_path), on_create=lambda rel, lower: made.append(rel))
    assert resolver.parent(["lib", "x86_64", "deep"], "lib/x86_64/deep/f") == "usr/lib/x86_64/deep"
    assert made == ["usr/lib/x86_64", "usr/lib/x86_64/deep"]
    assert resolver.find(["nope"], "nope/f") is None
    assert resolver.walked_links == {"lib"}
    resolver.close()


def test_resolver_goes_on_from_the_deepest_directory_it_knows(tmp_path):
    """An entry one level below the last costs one look, not a walk from the root; a symlink
    met there may still climb above the known directory, and stays inside the root."""
    (tmp_path / "a/b/c").mkdir(parents=True)
    os.symlink("../../../..", tmp_path / "a/b/c/up")
    resolver = Resolver(str(tmp_path), on_create=lambda rel, lower: None)
    looked = []
    look = resolver._look
    resolver._look = lambda stack, part: looked.append(part) or look(stack, part)
    try:
        assert resolver.parent(["a", "b"], "a/b/f") == "a/b" and looked == ["a", "b"]
        assert resolver.parent(["a", "b", "c"], "a/b/c/f") == "a/b/c" and looked == ["a", "b", "c"]
        assert resolver.parent(["a", "b", "c", "up", "a"], "a/b/c/up/a/f") == "a"
        assert looked[3:] == ["up", "a"] and resolver.walked_links == {"a/b/c/up"}
    finally:
        resolver.close()


# --- whole trees -------------------------------------------------------------------------------


def test_copy_tree_keeps_everything(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "d/e").mkdir(parents=True)
    (src / "d/f").write_bytes(b"data")
    os.link(src / "d/f", src / "d/g")
    os.symlink("f", src / "d/l")
    os.mkfifo(src / "fifo")
    os.chmod(src / "d/f", 0o4751)
    os.setxattr(src / "d/f", "user.k", b"v")
    os.chmod(src / "d/e", 0o500)
    os.utime(src / "d", ns=(1, 1_234_567_890_123_456_789))
    dst.mkdir()
    copy_tree(str(src), str(dst), chown=os.geteuid() == 0)
    assert (dst / "d/f").read_bytes() == b"data"
    assert os.stat(dst / "d/f").st_ino == os.stat(dst / "d/g").st_ino
    assert os.readlink(dst / "d/l") == "f" and stat.S_ISFIFO(os.lstat(dst / "fifo").st_mode)
    assert stat.S_IMODE(os.stat(dst / "d/f").st_mode) == 0o4751
    assert os.getxattr(dst / "d/f", "user.k") == b"v"
    assert stat.S_IMODE(os.stat(dst / "d/e").st_mode) == 0o500
    assert os.stat(dst / "d").st_mtime_ns == 1_234_567_890_123_456_789


def test_remove_tree_handles_deep_and_read_only_trees(tmp_path):
    path = tmp_path / "deep"
    current = str(path)
    os.mkdir(current)
    for _ in range(1500):  # deeper than Python's recursion limit
        current += "/d"
        os.mkdir(current)
    os.chmod(path / "d", 0o500)
    remove_tree(str(path))
    assert not path.exists()
    remove_tree(str(path))  # already gone is fine


def _nest(fd: int, depth: int, name: str) -> None:
    """``depth`` directories ``name`` inside each other under ``fd``, each with a file and a symlink."""
    fd = os.dup(fd)
    try:
        for i in range(depth):
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
            os.close(os.open("file", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
            os.symlink("/", "link", dir_fd=fd)
            if i % 100 == 0:
                os.mkdir("side", dir_fd=fd)
    finally:
        os.close(fd)


def test_remove_tree_goes_deeper_than_path_max(tmp_path):
    path = tmp_path / "rm-1"
    path.mkdir()
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _nest(fd, 500, "nested-directory")  # 500 x 17 bytes: a path of 8,500 bytes, twice PATH_MAX
        _nest(fd, 3, "other")
    finally:
        os.close(fd)
    with pytest.raises(OSError, match="File name too long"):
        os.stat(str(path) + "/nested-directory" * 500)
    remove_tree(str(path))
    assert not path.exists()
    assert len(os.listdir(tmp_path)) == 0


def test_remove_tree_removes_a_file_and_ignores_what_is_gone(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    remove_tree(str(tmp_path / "f"))
    remove_tree(str(tmp_path / "missing"))
    remove_tree(str(tmp_path / "missing" / "below"))
    assert os.listdir(tmp_path) == []


def test_usage_counts_hardlinks_once(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 10000)
    os.link(tmp_path / "f", tmp_path / "g")
    (tmp_path / "d").mkdir()
    used = usage(str(tmp_path))
    assert used.inodes == 2 and used.size >= 10000


def _chain(path, depth: int, name: str) -> None:
    """``depth`` directories ``name`` inside each other under ``path``, a file ``f`` at the bottom."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        out = os.open("f", os.O_WRONLY | os.O_CREAT, 0o640, dir_fd=fd)
        os.write(out, b"bottom")
        os.close(out)
        os.link("f", "g", src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)


def _read_bottom(path, depth: int, name: str) -> tuple[bytes, int]:
    """The bottom file's content and link count, reached by descriptor."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
        f = os.open("f", os.O_RDONLY, dir_fd=fd)
        try:
            return os.read(f, 100), os.fstat(f).st_nlink
        finally:
            os.close(f)
    finally:
        os.close(fd)


def test_copy_tree_and_usage_go_deeper_than_path_max(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    _chain(src, 400, "nested-directory")  # 400 x 17 bytes: a path of 6,800 bytes
    copy_tree(str(src), str(dst), chown=os.geteuid() == 0)
    assert _read_bottom(dst, 400, "nested-directory") == (b"bottom", 2)  # the hardlink kept
    used = usage(str(dst))
    assert used.inodes == 400 + 1  # the directories and the file (its second name counted once)
    assert usage(str(src)).inodes == used.inodes and used.size > 0
