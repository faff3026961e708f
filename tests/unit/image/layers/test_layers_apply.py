"""Applying layers natively onto a directory: file types, attributes, replacement, whiteouts."""

from __future__ import annotations

import hashlib
import io
import os
import stat

import pytest

from boxen.image.layers import apply_layer

MTIME = 1_700_000_000  # the builder's default mtime
NS = MTIME * 1_000_000_000


def apply(blob: bytes, root, **kw):
    return apply_layer(io.BytesIO(blob), str(root), rootless=kw.pop("rootless", True), **kw)


def test_regular_files_directories_symlinks_and_hardlinks(layer, target):
    blob = (layer().dir("etc", mode=0o755).file("etc/hostname", b"box\n", mode=0o640)
            .dir("bin").file("bin/tool", b"\x7fELF", mode=0o4755).symlink("bin/sh", "tool")
            .hardlink("bin/tool2", "bin/tool").fifo("run.fifo", mode=0o600).tar())
    result = apply(blob, target)
    assert result.entries == 7
    assert result.diff_id == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert result.compression == "none"
    assert (target / "etc/hostname").read_bytes() == b"box\n"
    assert stat.S_IMODE(os.stat(target / "etc/hostname").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(target / "bin/tool").st_mode) == 0o4755  # setuid kept
    assert os.readlink(target / "bin/sh") == "tool"
    assert os.stat(target / "bin/tool").st_ino == os.stat(target / "bin/tool2").st_ino
    assert stat.S_ISFIFO(os.lstat(target / "run.fifo").st_mode)


def test_times_are_kept_in_nanoseconds_and_directory_times_survive_their_children(layer, target):
    blob = layer().dir("d", mtime=MTIME).file("d/f", b"x", mtime=MTIME + 0.5).symlink("d/l", "f", mtime=MTIME).tar()
    apply(blob, target)
    assert os.lstat(target / "d").st_mtime_ns == NS
    assert os.lstat(target / "d/f").st_mtime_ns == NS + 500_000_000
    assert os.lstat(target / "d/l").st_mtime_ns == NS


def test_missing_parents_are_created_0755(layer, target):
    apply(layer().file("a/b/c", b"deep").tar(), target)
    assert (target / "a/b/c").read_bytes() == b"deep"
    assert stat.S_IMODE(os.stat(target / "a").st_mode) == 0o755


def test_read_only_directory_still_receives_its_children(layer, target):
    apply(layer().dir("ro", mode=0o555).file("ro/inside", b"1").dir("ro/sub", mode=0o500).file("ro/sub/x").tar(), target)
    assert (target / "ro/inside").read_bytes() == b"1"
    assert stat.S_IMODE(os.stat(target / "ro").st_mode) == 0o555
    assert stat.S_IMODE(os.stat(target / "ro/sub").st_mode) == 0o500


def test_user_xattrs_are_set(layer, target):
    value = b"\x00\xffbinary"
    apply(layer().file("f", b"x", xattrs={"user.test": value}).dir("d", xattrs={"user.dir": b"y"}).tar(), target)
    assert os.getxattr(target / "f", "user.test") == value
    assert os.getxattr(target / "d", "user.dir") == b"y"


def test_later_entries_replace_earlier_ones(layer, target):
    first = layer().dir("a").file("a/keep", b"1").file("b", b"file").dir("c").file("c/x").symlink("d", "b").tar()
    apply(first, target)
    second = (layer().dir("a", mode=0o700).dir("b").file("b/now-a-dir-child", b"2").file("c", b"now a file")
              .file("d", b"no longer a link").tar())
    apply(second, target)
    assert (target / "a/keep").read_bytes() == b"1"  # a directory over a directory merges
    assert stat.S_IMODE(os.stat(target / "a").st_mode) == 0o700  # ... and takes the new attributes
    assert (target / "b").is_dir() and (target / "b/now-a-dir-child").read_bytes() == b"2"
    assert (target / "c").read_bytes() == b"now a file"
    assert not os.path.islink(target / "d") and (target / "d").read_bytes() == b"no longer a link"


def test_duplicate_entries_in_one_layer_last_wins(layer, target):
    apply(layer().file("f", b"one").file("f", b"two").symlink("f", "elsewhere").tar(), target)
    assert os.readlink(target / "f") == "elsewhere"


def test_gzip_and_zstd_are_sniffed_whatever_the_media_type(layer, target):
    tar = layer().file("f", b"data").tar()
    gz = layer().file("f", b"data").gzip()
    zs = layer().file("f", b"data").zstd()
    assert apply(gz, target).compression == "gzip"
    assert apply(zs, target).compression == "zstd"
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    assert apply(gz, target).diff_id == apply(zs, target).diff_id == diff_id


def test_digest_and_size_of_the_blob_are_checked(layer, target):
    blob = layer().file("f", b"x").gzip()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    assert apply(blob, target, digest=digest, size=len(blob)).digest == digest
    with pytest.raises(Exception, match="hash to"):
        apply(blob, target, digest="sha256:" + "0" * 64)
    with pytest.raises(Exception, match="descriptor says"):
        apply(blob, target, size=len(blob) + 1)


def test_progress_reports_compressed_bytes(layer, target):
    blob = layer().file("f", os.urandom(3 << 20)).gzip()
    seen = []
    apply(blob, target, progress=seen.append)
    assert seen and seen[-1] == len(blob) and seen == sorted(seen)


# --- whiteouts, natively ------------------------------------------------------------------------


def base_layer(layer):
    return (layer().dir("etc").file("etc/old", b"old").file("etc/keep", b"keep").dir("var").dir("var/cache")
            .file("var/cache/a").dir("var/cache/sub").file("var/cache/sub/b").tar())


def test_whiteout_removes_a_file_and_a_directory_of_lower_layers(layer, target):
    apply(base_layer(layer), target)
    result = apply(layer().whiteout("etc/old").whiteout("var/cache").tar(), target)
    assert result.whiteouts == 2
    assert not (target / "etc/old").exists() and (target / "etc/keep").exists()
    assert not (target / "var/cache").exists() and (target / "var").is_dir()
    assert not any(name.startswith(".wh.") for name in os.listdir(target / "etc"))


def test_whiteout_of_something_absent_is_harmless(layer, target):
    apply(layer().whiteout("nothing/here").tar(), target)
    assert os.listdir(target / "nothing") == []


def test_opaque_directory_hides_lower_contents_but_keeps_this_layers(layer, target):
    apply(base_layer(layer), target)
    # the opaque marker comes after this layer's own entries: it still applies only to lower layers
    result = apply(layer().dir("var/cache").file("var/cache/new", b"n").dir("var/cache/sub")
                   .file("var/cache/sub/c").opaque("var/cache").tar(), target)
    assert result.opaques == 1
    assert sorted(os.listdir(target / "var/cache")) == ["new", "sub"]
    assert os.listdir(target / "var/cache/sub") == ["c"]


def test_whiteout_after_an_entry_of_the_same_layer_keeps_the_entry(layer, target):
    apply(layer().file("f", b"lower").dir("d").file("d/lower").tar(), target)
    apply(layer().file("f", b"upper").dir("d").file("d/upper").whiteout("f").whiteout("d").tar(), target)
    assert (target / "f").read_bytes() == b"upper"
    assert os.listdir(target / "d") == ["upper"]


def test_aufs_metadata_entries_are_ignored(layer, target):
    apply(layer().file(".wh..wh.plnk/1234.5678").file(".wh..wh.aufs").file("kept").tar(), target)
    assert os.listdir(target) == ["kept"]


def test_root_entry_sets_the_roots_attributes(layer, target):
    apply(layer().dir(".", mode=0o711, mtime=MTIME).file("f").tar(), target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o711
    assert os.stat(target).st_mtime_ns == NS


def test_device_nodes_are_skipped_and_reported_when_rootless(layer, target):
    lines = []
    result = apply(layer().device("dev/null", 1, 3).file("f").tar(), target, rootless=True, explain=lines.append)
    assert not (target / "dev/null").exists()
    assert any("dev/null" in s for s in result.skipped)
    assert any("skipped dev/null" in line for line in lines)


def _bottom(root, names: list[str]) -> int:
    """A descriptor of the directory ``names`` below ``root``, reached one step at a time."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for name in names:
        child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        os.close(fd)
        fd = child
    return fd


def test_a_layer_nested_deeper_than_path_max_applies(layer, target):
    """300 directories of 20-byte names (6,300 bytes of path): every entry, replacement,
    hardlink, whiteout and deferred attribute lands, each named through a short path."""
    names = ["nested-directory-" + f"{n:03}" for n in range(300)]
    builder = layer()
    for n in range(1, len(names) + 1):
        builder.dir("/".join(names[:n]), mode=0o750 if n == 300 else 0o755)
    deep = "/".join(names)
    blob = (builder.file(f"{deep}/f", b"bottom").hardlink(f"{deep}/g", f"{deep}/f").symlink(f"{deep}/l", "f")
            .file(f"{deep}/gone", b"x").whiteout(f"{deep}/gone").dir(f"{deep}/d").file(f"{deep}/d", b"replaced")
            .file(f"{'/'.join(names[:150])}/middle", b"m").tar())
    result = apply(blob, target)
    assert result.entries == 300 + 8
    fd = _bottom(target, names)
    try:
        assert sorted(os.listdir(fd)) == ["d", "f", "g", "gone", "l"]  # a whiteout spares its own layer's
        assert os.stat("f", dir_fd=fd).st_ino == os.stat("g", dir_fd=fd).st_ino
        assert os.readlink("l", dir_fd=fd) == "f"
        assert stat.S_ISREG(os.stat("d", dir_fd=fd).st_mode)
        assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o750
    finally:
        os.close(fd)
    fd = _bottom(target, names[:150])
    try:
        assert "middle" in os.listdir(fd)
    finally:
        os.close(fd)
