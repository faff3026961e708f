"""COPY/ADD semantics on plain directories: destinations, directories, symlinks, modes, owners, archives."""

import io
import os
import tarfile
from pathlib import Path

import pytest

from boxen.common.errors import InvalidArgument
from boxen.image.build.context import Tree
from boxen.image.build.copy import Copier, archive_kind, chown_ids
from boxen.image.build.plan import CopyStep

ROOT = os.geteuid() == 0


@pytest.fixture
def ctx(tmp_path):
    context = tmp_path / "ctx"
    (context / "dir" / "sub").mkdir(parents=True)
    (context / "file.txt").write_text("file\n")
    os.chmod(context / "file.txt", 0o640)
    os.utime(context / "file.txt", ns=(1_000_000_000, 1_234_567_891_000))
    (context / "dir" / "a").write_text("a\n")
    (context / "dir" / "sub" / "b").write_text("b\n")
    (context / "dir" / "link").symlink_to("a")
    (context / "tolink").symlink_to("file.txt")
    return Tree(str(context))


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "lib").symlink_to("usr/lib")
    (root / "existing").mkdir()
    os.chmod(root / "existing", 0o1777)
    (root / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\napp:x:1000:1001::/:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nstaff:x:50:\n")
    return root


def copy(rootfs, tree, sources, dest, **kwargs):
    owner = kwargs.pop("owner", (0, 0))
    step = CopyStep(tuple(sources), dest, dest, **kwargs)
    return Copier(str(rootfs), step, tree, owner=owner, field="Dockerfile:1").copy(tree.select(sources))


def test_file_to_a_path_keeps_mode_and_time(ctx, rootfs):
    copy(rootfs, ctx, ["file.txt"], "/etc/app.conf")
    st = os.stat(rootfs / "etc" / "app.conf")
    assert (rootfs / "etc" / "app.conf").read_text() == "file\n"
    assert st.st_mode & 0o7777 == 0o640 and st.st_mtime_ns == 1_234_567_891_000


def test_file_into_a_directory(ctx, rootfs):
    copy(rootfs, ctx, ["file.txt"], "/new/dir/")
    copy(rootfs, ctx, ["file.txt"], "/existing")  # an existing directory: into it
    assert (rootfs / "new" / "dir" / "file.txt").is_file()
    assert (rootfs / "existing" / "file.txt").is_file()
    assert os.stat(rootfs / "existing").st_mode & 0o7777 == 0o1777  # existing directories are left alone
    assert os.stat(rootfs / "new").st_mode & 0o7777 == 0o755


def test_directory_contents_not_the_directory(ctx, rootfs):
    copy(rootfs, ctx, ["dir"], "/target")
    assert sorted(os.listdir(rootfs / "target")) == ["a", "link", "sub"]
    assert os.readlink(rootfs / "target" / "link") == "a"  # symlinks inside are copied as symlinks
    assert (rootfs / "target" / "sub" / "b").read_text() == "b\n"


def test_symlink_source_is_followed(ctx, rootfs):
    copy(rootfs, ctx, ["tolink"], "/followed")
    assert not os.path.islink(rootfs / "followed") and (rootfs / "followed").read_text() == "file\n"


def test_symlink_source_into_a_directory_keeps_the_links_name(ctx, rootfs):
    copy(rootfs, ctx, ["tolink"], "/existing/")
    assert sorted(os.listdir(rootfs / "existing")) == ["tolink"]
    assert (rootfs / "existing" / "tolink").read_text() == "file\n"


def test_hidden_files_are_copied(ctx, rootfs):
    (Path(ctx.root) / ".hidden").write_text("h\n")
    copy(rootfs, ctx, [".hidden"], "/")
    assert (rootfs / ".hidden").read_text() == "h\n"


def test_a_wildcard_that_matches_nothing_copies_nothing(ctx, rootfs):
    result = copy(rootfs, ctx, ["*.none"], "/existing/")
    assert result.entries == 0 and os.listdir(rootfs / "existing") == []


def test_destination_follows_the_images_symlinks_inside_the_root(ctx, rootfs):
    copy(rootfs, ctx, ["file.txt"], "/lib/")
    assert (rootfs / "usr" / "lib" / "file.txt").is_file()
    os.symlink("/", rootfs / "escape")
    copy(rootfs, ctx, ["file.txt"], "/escape/etc/")  # "/" is the image's root, not the host's
    assert (rootfs / "etc" / "file.txt").is_file()


def test_chmod_and_owner(ctx, rootfs):
    copy(rootfs, ctx, ["dir"], "/owned/", chmod="600", owner=(1000, 50))
    st = os.lstat(rootfs / "owned" / "a")
    assert st.st_mode & 0o7777 == 0o600
    if ROOT:
        assert (st.st_uid, st.st_gid) == (1000, 50)
        assert os.stat(rootfs / "owned").st_uid == 1000  # created parents belong to the --chown user


def test_symbolic_chmod_changes_each_files_own_bits(ctx, rootfs):
    os.chmod(Path(ctx.root) / "dir" / "a", 0o666)
    copy(rootfs, ctx, ["dir"], "/sym/", chmod="go-w,u+x")
    assert os.lstat(rootfs / "sym" / "a").st_mode & 0o7777 == 0o744
    assert os.lstat(rootfs / "sym" / "sub").st_mode & 0o7777 == 0o755  # 0755 from mkdir: go-w keeps it


def test_file_cannot_replace_a_directory(ctx, rootfs):
    (rootfs / "target" / "a").mkdir(parents=True)
    with pytest.raises(InvalidArgument, match="cannot overwrite directory"):
        copy(rootfs, ctx, ["dir"], "/target/")


def test_parent_that_is_a_file_is_an_error(ctx, rootfs):
    with pytest.raises(InvalidArgument, match="is not a directory"):
        copy(rootfs, ctx, ["file.txt"], "/etc/passwd/x")


def test_chown_ids(rootfs):
    root = str(rootfs)
    assert chown_ids("1000", root, field="f") == (1000, 1000)
    assert chown_ids("app", root, field="f") == (1000, 1001)
    assert chown_ids("app:staff", root, field="f") == (1000, 50)
    assert chown_ids("5:6", root, field="f") == (5, 6)
    with pytest.raises(InvalidArgument, match="no user 'nobody'"):
        chown_ids("nobody", root, field="f")
    with pytest.raises(InvalidArgument, match="no group 'wheel'"):
        chown_ids("app:wheel", root, field="f")
    for bad in ("99999999999999999999", "0:4294967295"):
        with pytest.raises(InvalidArgument, match="is not an ID"):
            chown_ids(bad, root, field="f")
    with pytest.raises(InvalidArgument, match="no user '\u00b2'"):  # a digit to str.isdigit, not to int
        chown_ids("\u00b2", root, field="f")


@pytest.mark.skipif(not ROOT, reason="making a device node needs root; a FIFO is the case here")
def test_a_fifo_source_is_made_anew_never_opened(ctx, rootfs):
    os.mkfifo(ctx.host("fifo"))  # (opening it to read would wait for a writer for ever)
    copy(rootfs, ctx, ["fifo"], "/existing/")
    import stat
    assert stat.S_ISFIFO(os.lstat(rootfs / "existing" / "fifo").st_mode)
    copy(rootfs, ctx, ["fifo"], "/added", add=True)  # (not taken for an archive either)
    assert stat.S_ISFIFO(os.lstat(rootfs / "added").st_mode)


def test_a_socket_source_is_refused(ctx, rootfs):
    import socket
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(ctx.host("sock"))
        with pytest.raises(InvalidArgument, match="sock is a socket"):
            copy(rootfs, ctx, ["sock"], "/existing/")


def _tar(path, mode="w", entries=(("x/y.txt", b"y\n"),)):
    with tarfile.open(path, mode) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("mode, kind", [("w", "tar"), ("w:gz", "gzip"), ("w:bz2", "bzip2"), ("w:xz", "xz")])
def test_add_extracts_local_archives(tmp_path, rootfs, mode, kind):
    context = tmp_path / "ctx"
    context.mkdir()
    _tar(context / "a.tar", mode)
    assert archive_kind(str(context / "a.tar")) == kind
    copy(rootfs, Tree(str(context)), ["a.tar"], "/opt/", add=True)
    assert (rootfs / "opt" / "x" / "y.txt").read_text() == "y\n"


def test_add_chown_applies_to_an_extracted_archives_files(tmp_path, rootfs):
    context = tmp_path / "ctx"
    context.mkdir()
    _tar(context / "a.tar.gz", "w:gz", entries=(("x/y.txt", b"y\n"), ("z", b"z\n")))
    copy(rootfs, Tree(str(context)), ["a.tar.gz"], "/opt/", add=True, chown="1000:50", owner=(1000, 50),
         chmod="go-w")
    assert (rootfs / "opt" / "x" / "y.txt").read_text() == "y\n"
    assert os.lstat(rootfs / "opt" / "z").st_mode & 0o7777 == 0o644
    if ROOT:
        for path in ("opt/x", "opt/x/y.txt", "opt/z"):
            assert (os.lstat(rootfs / path).st_uid, os.lstat(rootfs / path).st_gid) == (1000, 50), path
    assert sorted(os.listdir(tmp_path)) == ["ctx", "rootfs"]  # the staging directory is gone


def test_add_of_a_non_archive_copies_and_copy_never_extracts(tmp_path, rootfs):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "plain.gz").write_bytes(b"\x1f\x8bnot really gzip")
    _tar(context / "a.tar")
    assert archive_kind(str(context / "plain.gz")) is None
    copy(rootfs, Tree(str(context)), ["plain.gz"], "/p", add=True)
    copy(rootfs, Tree(str(context)), ["a.tar"], "/kept.tar")
    assert (rootfs / "p").read_bytes().startswith(b"\x1f\x8b") and (rootfs / "kept.tar").is_file()


def test_hostile_archive_is_refused_and_writes_nothing_outside(tmp_path, rootfs):
    context = tmp_path / "ctx"
    context.mkdir()
    _tar(context / "evil.tar", entries=(("../../outside.txt", b"evil"),))
    with pytest.raises(InvalidArgument, match="climbs out"):
        copy(rootfs, Tree(str(context)), ["evil.tar"], "/opt/", add=True)
    assert not (tmp_path / "outside.txt").exists() and not (rootfs.parent / "outside.txt").exists()


def test_an_images_symlinks_on_the_way_are_replaced_never_followed_out(tmp_path, rootfs):
    host_dir = tmp_path / "host-only"
    host_dir.mkdir()
    context = tmp_path / "ctx2"
    (context / "conf").mkdir(parents=True)
    (context / "conf" / "file").write_text("conf\n")
    (context / "build").mkdir()
    (context / "build" / "keep.txt").write_text("keep\n")
    (context / "build" / "drop.txt").write_text("drop\n")
    (context / ".dockerignore").write_text("build\n!build/keep.txt\n")
    (rootfs / "target").mkdir()
    (rootfs / "target" / "conf").symlink_to(str(host_dir))  # absolute: the host's directory, if followed
    (rootfs / "target" / "build").symlink_to(str(host_dir))
    from boxen.image.build.context import read_ignore

    copy(rootfs, Tree(str(context), read_ignore(str(context))), ["."], "/target/")
    assert os.listdir(host_dir) == []
    assert (rootfs / "target" / "conf" / "file").read_text() == "conf\n"
    assert sorted(os.listdir(rootfs / "target" / "build")) == ["keep.txt"]
    assert not os.path.islink(rootfs / "target" / "build")
