"""boxen.common.paths and boxen.common.posixos behave as os.path and os do."""

from __future__ import annotations

import os
import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from boxen.common import paths, posixos

# Path names made of the parts that matter to the grammar: slashes, ".", ".." and names.
parts = st.sampled_from(["", "/", "//", "///", ".", "..", "a", "b", "a.b", "..a", "é"])
names = st.lists(parts, max_size=8).map("/".join) | st.lists(parts, max_size=8).map("".join)


@given(names, st.lists(names, max_size=4))
def test_join_is_posixpath_join(first, rest):
    assert paths.join(first, *rest) == posixpath.join(first, *rest)


@given(names)
def test_split_dirname_basename_normpath_are_posixpath_s(name):
    assert paths.split(name) == posixpath.split(name)
    assert paths.dirname(name) == posixpath.dirname(name)
    assert paths.basename(name) == posixpath.basename(name)
    assert paths.normpath(name) == posixpath.normpath(name)


@given(names, names)
def test_abspath_and_relpath_are_posixpath_s(name, start):
    assert paths.abspath(name) == posixpath.abspath(name)
    if name:
        assert paths.relpath(name, start or ".") == posixpath.relpath(name, start or ".")


def test_relpath_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        paths.relpath("")


def test_realpath_exists_isdir_on_a_tree_with_links(tmp_path):
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "file").write_text("")
    (tmp_path / "to-dir").symlink_to("dir")
    (tmp_path / "dir" / "up").symlink_to("..")
    (tmp_path / "dangling").symlink_to("nowhere")
    (tmp_path / "loop").symlink_to("loop")
    for name in ("dir", "dir/sub", "file", "to-dir", "to-dir/sub/..", "dir/up/to-dir/up", "dangling",
                 "dangling/x", "loop", "missing/x", "file/x", ""):
        path = str(tmp_path / name) if name else ""
        assert paths.realpath(path) == posixpath.realpath(path), name
        assert paths.exists(path) == posixpath.exists(path), name
        assert paths.lexists(path) == posixpath.lexists(path), name
        assert paths.isdir(path) == posixpath.isdir(path), name
    assert not paths.exists("a\0b") and not paths.isdir("a\0b")


def test_posixos_has_what_os_has_for_the_runtime(tmp_path):
    assert posixos.open is os.open and posixos._exit is os._exit and posixos.O_CLOEXEC == os.O_CLOEXEC
    assert not hasattr(posixos, "environ")  # posix's is keyed by bytes: a trap, so it is left out
    for name in ("a", "é", "\udcff", b"\xff"):
        assert posixos.fsencode(name) == os.fsencode(name)
        assert posixos.fsdecode(name) == os.fsdecode(name)
    deep = str(tmp_path / "a" / "b" / "c")
    posixos.makedirs(deep, 0o711)
    assert os.stat(deep).st_mode & 0o777 == 0o711
    posixos.makedirs(deep, exist_ok=True)
    with pytest.raises(FileExistsError):
        posixos.makedirs(deep)
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError):
        posixos.makedirs(str(tmp_path / "file"), exist_ok=True)
