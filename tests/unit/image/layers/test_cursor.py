"""The directory cursor: moves down, up and across a tree by descriptor, never through a symlink."""

from __future__ import annotations

import os

import pytest

from boxen.image.layers.cursor import Cursor


def _same(fd: int, path) -> bool:
    a, b = os.fstat(fd), os.stat(path)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


@pytest.fixture
def cursor(tmp_path):
    for rel in ("a/b/c/d", "a/x/y", "e"):
        (tmp_path / rel).mkdir(parents=True)
    os.symlink("a", tmp_path / "link")
    c = Cursor(str(tmp_path))
    yield c
    c.close()


@pytest.mark.parametrize("moves", [
    ["a/b/c/d", "a/b"], ["a/b/c/d", "a/x/y"], ["a/b", "a/b/c/d"], ["a/b/c/d", "e"], ["a/x", ""], ["", "a/x/y"],
    ["a/b/c", "a/b/c"],
])
def test_each_move_lands_on_the_directory_asked_for(cursor, tmp_path, moves):
    for rel in moves:
        fd = cursor.at(rel)
        assert _same(fd, tmp_path / rel) and cursor.rel == rel
    assert cursor.path("a/b", "c") == f"/proc/self/fd/{cursor.fd}/c" and os.path.isdir(cursor.path("a/b", "c"))


def test_only_one_directory_is_open_besides_the_root(cursor):
    before = len(os.listdir("/proc/self/fd"))
    for rel in ("a/b/c/d", "a/x/y", "e", "a/b"):
        cursor.at(rel)
        assert len(os.listdir("/proc/self/fd")) <= before + 1


def test_a_step_never_follows_a_symlink_and_a_failed_move_leaves_the_cursor_at_the_root(cursor, tmp_path):
    cursor.at("a/b/c")
    with pytest.raises(NotADirectoryError):
        cursor.at("link/b")
    assert cursor.rel == "" and cursor.fd == cursor.root_fd
    with pytest.raises(FileNotFoundError):
        cursor.at("a/missing/z")
    assert _same(cursor.at("a/x"), tmp_path / "a/x")


def test_a_tree_deeper_than_path_max_is_walked(tmp_path):
    rel = "/".join(["a-directory-name-of-30-bytes--"] * 200)  # 6,200 bytes
    fd = os.open(tmp_path, os.O_RDONLY)
    for name in rel.split("/"):
        os.mkdir(name, dir_fd=fd)
        child = os.open(name, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    c = Cursor(str(tmp_path))
    try:
        with open(c.path(rel, "f"), "w") as f:
            f.write("deep")
        up = rel.rpartition("/")[0]
        assert os.listdir(c.path(up)) == ["a-directory-name-of-30-bytes--"]
        with open(c.path(rel, "f")) as f:
            assert f.read() == "deep"
    finally:
        c.close()
