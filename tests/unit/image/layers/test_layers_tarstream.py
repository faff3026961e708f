"""The tar reader: ustar, GNU and pax headers as Python's tarfile writes them, and chunked input."""

from __future__ import annotations

import io
import tarfile

import pytest

from boxen.common.errors import InvalidArgument
from boxen.image.layers import tarstream as tar
from boxen.image.layers.tarstream import ByteSource, TarReader


def chunks(data: bytes, size: int):
    parts = [data[i:i + size] for i in range(0, len(data), size)]
    parts.reverse()
    return lambda: parts.pop() if parts else b""


def entries(blob: bytes, chunk: int = 4096) -> list[tuple[tar.TarEntry, bytes]]:
    import os

    reader = TarReader(ByteSource(chunks(blob, chunk)))
    found = []
    while (entry := reader.next()) is not None:
        data = b""
        if entry.type == tar.REGULAR and entry.size:
            r, w = os.pipe()
            reader.copy_data(w, entry.name)
            os.close(w)
            data = os.read(r, 1 << 20)
            os.close(r)
        found.append((entry, data))
    return found


LONG = "d" * 60 + "/" + "e" * 70 + "/" + "f" * 80


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT],
                         ids=["ustar", "gnu", "pax"])
@pytest.mark.parametrize("chunk", [1, 511, 4096])
def test_formats_and_chunking(layer, fmt, chunk):
    # ustar splits a long name into prefix and name, but has no room for a link name over 100 bytes
    target = "../" + "t" * (90 if fmt == tarfile.USTAR_FORMAT else 120)
    hard = "dir/short" if fmt == tarfile.USTAR_FORMAT else LONG
    blob = (layer(fmt).dir("dir", mode=0o1755, uid=7, gid=8).file(LONG, b"long name", mode=0o4750)
            .symlink("s", target).hardlink("h", hard).device("dev/sda", 8, 1, kind=tarfile.BLKTYPE)
            .fifo("p").file("empty").tar())
    got = entries(blob, chunk)
    assert [(e.name, e.type) for e, _ in got] == [
        ("dir/", tar.DIRECTORY), (LONG, tar.REGULAR), ("s", tar.SYMLINK), ("h", tar.HARDLINK),
        ("dev/sda", tar.BLOCKDEV), ("p", tar.FIFO), ("empty", tar.REGULAR)]
    directory, (long_file, data) = got[0][0], got[1]
    assert (directory.mode, directory.uid, directory.gid) == (0o1755, 7, 8)
    assert long_file.mode == 0o4750 and data == b"long name"
    assert got[2][0].linkname == target
    assert got[3][0].linkname == hard
    assert (got[4][0].devmajor, got[4][0].devminor) == (8, 1)


def test_pax_records_nanoseconds_xattrs_and_big_ids(layer):
    blob = layer().file("f", b"x", mtime=1_700_000_000.25, uid=3_000_000_000, gid=5,
                        xattrs={"user.a": b"1", "security.capability": b"\x01\x00\x00\x02\xff"}).tar()
    (entry, _), = entries(blob)
    assert entry.mtime_ns == 1_700_000_000_250_000_000
    assert entry.uid == 3_000_000_000
    assert entry.xattrs == {"user.a": b"1", "security.capability": b"\x01\x00\x00\x02\xff"}


def test_gnu_base256_numbers(layer):
    (entry, _), = entries(layer(tarfile.GNU_FORMAT).file("f", uid=0o77777777 + 1).tar())
    assert entry.uid == 0o77777777 + 1


def test_global_pax_headers_apply_to_what_follows():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"uid": "4242"}) as t:
        t.addfile(tarfile.TarInfo("a"))
        t.addfile(tarfile.TarInfo("b"))
    assert [e.uid for e, _ in entries(buf.getvalue())] == [4242, 4242]


def test_non_utf8_names_survive():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as t:
        t.addfile(tarfile.TarInfo(b"caf\xe9".decode("utf-8", "surrogateescape")))
    (entry, _), = entries(buf.getvalue())
    assert entry.name.encode("utf-8", "surrogateescape") == b"caf\xe9"


def test_unconsumed_data_is_skipped(layer):
    blob = layer().file("a", b"A" * 3000).file("b", b"B").tar()
    reader = TarReader(ByteSource(chunks(blob, 700)))
    assert reader.next().name == "a"
    assert reader.next().name == "b"  # a's data and padding skipped
    assert reader.next() is None


def test_an_empty_stream_is_an_empty_archive():
    assert TarReader(ByteSource(chunks(b"", 1))).next() is None


def test_a_header_cut_short_is_truncation(layer):
    blob = layer().file("a", b"x").tar()
    with pytest.raises(InvalidArgument, match="truncated"):
        entries(blob[:BLOCK_AND_A_HALF])


BLOCK_AND_A_HALF = 512 + 512 + 256


def test_malformed_pax_record_is_refused():
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    body = b"99 path=oops\n"
    info.size = len(body)
    blob = info.tobuf(tarfile.USTAR_FORMAT) + body + bytes(-len(body) % 512) + tarfile.TarInfo("x").tobuf()
    with pytest.raises(InvalidArgument, match="malformed pax record"):
        entries(blob)


def test_byte_source_reads_across_chunks():
    source = ByteSource(chunks(bytes(range(256)) * 4, 100))
    assert source.read(3) == b"\x00\x01\x02"
    assert source.skip(300) == 300
    assert source.read(2) == bytes([303 % 256, 304 % 256])
    assert source.drain() == 1024 - 305
    assert source.read(1) == b"" and source.offset == 1024
