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


def _header(name: bytes, *, typeflag: bytes = b"0", size: bytes | None = None, uid: bytes | None = None,
            devmajor: bytes | None = None) -> bytes:
    """One ustar header, written by hand so any field can hold what no tar writer would put there."""
    block = bytearray(512)
    block[0:len(name)] = name
    block[100:108] = b"0000644\0"
    block[108:116] = uid if uid is not None else b"0000000\0"
    block[116:124] = b"0000000\0"
    block[124:136] = size if size is not None else b"00000000000\0"
    block[136:148] = b"00000000000\0"
    block[156:157] = typeflag
    block[257:265] = b"ustar\x0000"
    if devmajor is not None:
        block[329:337] = devmajor
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _pax(*records: bytes) -> bytes:
    """A pax ``x`` extended header carrying ``records`` (``key=value`` each)."""
    body = b""
    for record in records:
        length = len(record) + 2  # the space and the newline, then the digits of the length itself
        while len(str(length + len(str(length)))) != len(str(length)):
            length += 1
        body += b"%d %s\n" % (length + len(str(length)), record)
    return _header(b"PaxHeader", typeflag=b"x", size=b"%011o\0" % len(body)) + body + bytes(-len(body) % 512)


def _archive(*parts: bytes) -> bytes:
    return b"".join(parts) + bytes(1024)


@pytest.mark.parametrize("blob, expected", [
    (_archive(_pax(b"uid=" + b"1" + b"0" * 20), _header(b"f")), "uid 100000000000000000000 is out of range"),
    (_archive(_pax(b"gid=4294967295"), _header(b"f")), "gid 4294967295 is out of range"),
    (_archive(_pax(b"mtime=1" + b"0" * 20), _header(b"f")), "mtime .* is out of range"),
    (_archive(_pax(b"mtime=-1" + b"0" * 20 + b".5"), _header(b"f")), "mtime .* is out of range"),
    (_archive(_pax(b"mtime=1e9"), _header(b"f")), "pax mtime '1e9' is not a number"),
    (_archive(_pax(b"size=1_0"), _header(b"f")), "pax size record b'1_0' is not a decimal number"),
    (_archive(_pax(b"uid= 7"), _header(b"f")), "pax uid record b' 7' is not a decimal number"),
    (_archive(_pax(b"path=etc/pa\0sswd"), _header(b"f")), "path contains a NUL byte"),
    (_archive(_pax(b"linkpath=/a\0b"), _header(b"l", typeflag=b"2")), "link target contains a NUL byte"),
    (_archive(_pax(b"SCHILY.xattr.user.a\0b=1"), _header(b"f")), "attribute name contains a NUL byte"),
    (_archive(_header(b"f", uid=b"\x80" + b"\xff" * 7)), "uid 72057594037927935 is out of range"),
    (_archive(_header(b"f", uid=b"\xff" * 8)), "negative size, uid or gid"),
    (_archive(_header(b"f", size=b"\x80" + b"\x7f" + b"\xff" * 10)), "size .* is out of range"),
    (_archive(_header(b"f", size=b"\xff" * 12)), "negative size -1"),
    (_archive(_header(b"d", typeflag=b"3", devmajor=b"\x80" + b"\x01" * 7)), "devmajor .* is out of range"),
], ids=["pax-uid-1e20", "pax-gid-reserved", "pax-mtime-1e20", "pax-mtime-negative-1e20", "pax-mtime-exponent",
        "pax-size-underscore", "pax-uid-space", "pax-path-nul", "pax-linkpath-nul", "pax-xattr-name-nul",
        "base256-uid", "base256-negative-uid", "base256-size", "base256-negative-size", "base256-devmajor"])
def test_out_of_range_and_malformed_fields_are_refused_naming_the_entry(blob, expected):
    with pytest.raises(InvalidArgument, match=expected) as caught:
        entries(blob)
    assert caught.value.field  # the entry (or the header after which it came) is named


def test_the_largest_valid_numbers_are_read():
    blob = _archive(_pax(b"uid=4294967294", b"mtime=-12.5"), _header(b"f"))
    (entry, _), = entries(blob)
    assert entry.uid == 4294967294 and entry.mtime_ns == -12_500_000_000
