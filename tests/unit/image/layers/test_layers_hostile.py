"""Hostile layers: each gets a clear error (or is contained in the root) and nothing outside changes."""

from __future__ import annotations

import gzip
import io
import os
import tarfile

import pytest
import zstandard

from boxen.common.errors import InvalidArgument, KernelError
from boxen.image.layers import apply_layer


def apply(blob: bytes, root, **kw):
    return apply_layer(io.BytesIO(blob), str(root), rootless=kw.pop("rootless", True), **kw)


def refused(blob: bytes, root, match: str, field: str | None = None) -> InvalidArgument:
    with pytest.raises(InvalidArgument, match=match) as info:
        apply(blob, root)
    if field is not None:
        assert info.value.field == field
    return info.value


def test_dotdot_that_climbs_out_is_refused(layer, target, untouched):
    refused(layer().file("../outside/passwd", b"owned").tar(), target, "climbs out", "../outside/passwd")
    refused(layer().file("a/../../outside/evil", b"owned").tar(), target, "climbs out")
    untouched()


def test_dotdot_that_stays_inside_is_fine(layer, target, untouched):
    apply(layer().file("a/../b", b"ok").tar(), target)
    assert (target / "b").read_bytes() == b"ok"
    untouched()


def test_absolute_names_are_refused(layer, target, untouched):
    refused(layer().file("/etc/evil", b"owned").tar(), target, "absolute path", "/etc/evil")
    assert not os.path.exists("/etc/evil")
    untouched()


def test_symlink_then_file_through_it_lands_inside_the_root(layer, target, untouched, tmp_path):
    outside = tmp_path / "outside"
    blob = (layer().symlink("abs", str(outside)).symlink("rel", "../../../../../../outside")
            .file("abs/passwd", b"1").file("rel/passwd", b"2").tar())
    apply(blob, target)
    # RESOLVE_IN_ROOT: an absolute target restarts at the root, '..' stops at the root
    assert (target / str(outside).lstrip("/") / "passwd").read_bytes() == b"1"
    assert (target / "outside/passwd").read_bytes() == b"2"
    assert os.readlink(target / "abs") == str(outside)  # the links themselves are kept as written
    untouched()


def test_symlink_to_itself_through_the_root_is_a_loop(layer, target, untouched):
    # inside the root, etc -> /etc is etc -> etc, as openat2(RESOLVE_IN_ROOT) would also find
    refused(layer().symlink("etc", "/etc").file("etc/passwd", b"x").tar(), target, "too many levels", "etc/passwd")
    untouched()


def test_symlink_to_host_etc_then_write_goes_to_roots_etc(layer, target, untouched):
    before = os.stat("/etc/passwd")
    apply(layer().symlink("e", "/etc").file("e/passwd-boxen-test", b"x").tar(), target)
    assert (target / "etc/passwd-boxen-test").read_bytes() == b"x"
    assert not os.path.exists("/etc/passwd-boxen-test")
    assert os.stat("/etc/passwd").st_mtime_ns == before.st_mtime_ns
    untouched()


def test_symlink_loop_in_a_parent_is_refused(layer, target, untouched):
    refused(layer().symlink("a", "b").symlink("b", "a").file("a/x").tar(), target, "too many levels", "a/x")
    untouched()


def test_parent_that_is_a_file_is_refused(layer, target, untouched):
    refused(layer().file("f", b"x").file("f/child").tar(), target, "not a directory", "f/child")
    untouched()


def test_hardlink_to_a_host_file_is_refused(layer, target, untouched):
    refused(layer().hardlink("passwd", "/etc/passwd").tar(), target, "absolute path")
    refused(layer().hardlink("passwd", "../outside/passwd").tar(), target, "climbs out")
    untouched()


def test_hardlink_to_something_not_in_this_layer_is_refused(layer, target, untouched):
    apply(layer().file("lower", b"from a lower layer").tar(), target)
    refused(layer().hardlink("link", "lower").tar(), target, "not an earlier entry", "link")
    refused(layer().hardlink("link", "missing/file").tar(), target, "not an earlier entry")
    untouched()


def test_hardlink_through_a_symlink_pointing_outside_is_refused(layer, target, untouched, tmp_path):
    blob = layer().symlink("out", str(tmp_path / "outside")).hardlink("stolen", "out/passwd").tar()
    refused(blob, target, "not an earlier entry", "stolen")
    untouched()


def test_hardlink_to_a_directory_is_refused(layer, target, untouched):
    refused(layer().dir("d").hardlink("l", "d").tar(), target, "directory")
    untouched()


def test_declared_size_larger_than_the_data_is_refused(layer, target, untouched):
    blob = layer().file("ok", b"fine").raw(layer.lying_header("liar", 1 << 20, b"short" + bytes(507))).tar()
    error = refused(blob, target, "declares 1048576 bytes", "liar")
    assert "truncated" in str(error)
    untouched()


def test_huge_declared_size_does_not_allocate_it(layer, target, untouched):
    refused(layer.lying_header("huge", 5 << 30, b"tiny"), target, "declares 5368709120 bytes", "huge")
    untouched()


def test_truncated_gzip_is_refused(layer, target, untouched):
    blob = layer().file("a", os.urandom(200_000)).file("b", b"b").gzip()
    with pytest.raises(InvalidArgument, match="truncated"):
        apply(blob[: len(blob) // 2], target)
    with pytest.raises(InvalidArgument, match="gzip stream is truncated"):
        apply(blob[:-4], target)
    untouched()


def test_truncated_zstd_is_refused(layer, target, untouched):
    blob = layer().file("a", os.urandom(200_000)).zstd()
    with pytest.raises(InvalidArgument, match="truncated"):
        apply(blob[:-10], target)
    untouched()


def test_corrupt_gzip_is_refused(layer, target, untouched):
    blob = bytearray(layer().file("a", b"x" * 100_000).gzip())
    blob[30:40] = b"\xff" * 10
    with pytest.raises(InvalidArgument, match="corrupt"):
        apply(bytes(blob), target)
    untouched()


def test_not_a_tar_is_refused(target, untouched):
    refused(b"this is not a tar archive" * 40, target, "checksum")
    refused(gzip.compress(b"x" * 5000), target, "checksum")
    refused(zstandard.ZstdCompressor().compress(b"y" * 5000), target, "checksum")
    untouched()


@pytest.mark.parametrize("victim", [".wh..", ".wh...", ".wh."])
def test_whiteout_of_dot_dotdot_or_nothing_is_refused(layer, target, untouched, victim):
    refused(layer().dir("d").file(f"d/{victim}").tar(), target, "not a file name", f"d/{victim}")
    untouched()


def test_whiteout_cannot_reach_outside(layer, target, untouched):
    refused(layer().file("../.wh.outside").tar(), target, "climbs out")
    apply(layer().symlink("up", "..").file("up/.wh.outside").tar(), target)  # '..' from the root is the root
    untouched()


def test_overlay_xattrs_in_a_layer_are_refused(layer, target, untouched):
    refused(layer().dir("d", xattrs={"trusted.overlay.opaque": b"y"}).tar(), target, "overlayfs", "d/")
    refused(layer().file("f", xattrs={"trusted.overlay.redirect": b"/x"}).tar(), target, "overlayfs", "f")
    untouched()


def test_unsupported_entry_types_are_refused(target, untouched):
    info = tarfile.TarInfo("sparse")
    info.type = tarfile.GNUTYPE_SPARSE
    refused(info.tobuf(tarfile.GNU_FORMAT), target, "sparse", "sparse")
    info = tarfile.TarInfo("weird")
    info.type = b"Z"
    refused(info.tobuf(tarfile.USTAR_FORMAT), target, "unsupported tar entry", "weird")
    untouched()


def test_oversized_pax_header_is_refused(target, untouched):
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = 64 << 20
    refused(info.tobuf(tarfile.USTAR_FORMAT) + b"0" * 1024, target, "extended header")
    untouched()


def test_device_node_without_privilege_is_a_clear_error(layer, target, untouched):
    if os.geteuid() == 0:
        pytest.skip("root may create device nodes")
    with pytest.raises(KernelError, match="dev/null") as info:
        apply(layer().device("dev/null", 1, 3).tar(), target, rootless=False)
    assert info.value.syscall == "mknod"
    untouched()


def test_a_directory_replaced_by_a_symlink_does_not_get_its_attributes_set_through_it(layer, target, untouched,
                                                                                      tmp_path):
    outside = tmp_path / "outside"
    (outside / "b").mkdir()
    os.chmod(outside, 0o755)
    os.chmod(outside / "b", 0o755)
    before = (os.stat(outside).st_mtime_ns, os.stat(outside / "b").st_mtime_ns)
    blob = (layer().dir("d", mode=0o700).dir("a", mode=0o700).dir("a/b", mode=0o700)
            .symlink("d", str(outside)).symlink("a", str(outside)).tar())
    apply(blob, target)
    assert os.readlink(target / "d") == str(outside) and os.readlink(target / "a") == str(outside)
    assert os.stat(outside).st_mode & 0o777 == 0o755
    assert os.stat(outside / "b").st_mode & 0o777 == 0o755
    assert (os.stat(outside).st_mtime_ns, os.stat(outside / "b").st_mtime_ns) == before
    os.rmdir(outside / "b")
    untouched()


@pytest.mark.parametrize("pax_headers, match", [
    ({"uid": "1" + "0" * 20}, "uid .* out of range"),
    ({"mtime": "1" + "0" * 20}, "mtime .* out of range"),
    ({"path": "etc/pa\0sswd"}, "NUL byte"),
], ids=["uid-1e20", "mtime-1e20", "nul-in-path"])
def test_out_of_range_pax_fields_are_refused_before_anything_is_made(target, untouched, pax_headers, match):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("etc/passwd")
        info.pax_headers = pax_headers
        t.addfile(info, io.BytesIO(b""))
    refused(buf.getvalue(), target, match)
    assert not (target / "etc" / "passwd").exists()
    untouched()
