"""Reading a tar archive as a stream of entries, with nothing trusted.

A tar archive is a sequence of 512-byte **headers**, each followed by the entry's data padded
to a multiple of 512 bytes, and ended by two blocks of zeros. The header layout is POSIX
*ustar*::

    offset  size  field                offset  size  field
         0   100  name                    257     6  magic ("ustar\\0" or GNU "ustar  ")
       100     8  mode (octal)            263     2  version
       108     8  uid  (octal)            265    32  uname
       116     8  gid  (octal)            297    32  gname
       124    12  size (octal)            329     8  devmajor
       136    12  mtime (octal)           337     8  devminor
       148     8  checksum                345   155  prefix (ustar: name = prefix/name)
       156     1  typeflag
       157   100  linkname

Fields too small for a value spill into extension entries that precede the entry they
describe: GNU ``L``/``K`` entries carry a long name or link name; POSIX *pax* ``x`` entries
carry ``length key=value\\n`` records (``path``, ``linkpath``, ``size``, ``uid``, ``gid``,
``mtime`` with nanoseconds, and ``SCHILY.xattr.<name>`` for extended attributes, which is how
OCI layers carry file capabilities and SELinux labels); ``g`` entries hold pax records for
every entry that follows. Numbers that do not fit in octal are stored base-256 (first byte
``0x80``), as GNU tar and Go's archive/tar write them.

:class:`TarReader` parses headers itself rather than through :mod:`tarfile`: a layer is read
once, front to back, and the reader hands each entry's data straight to a file descriptor
from the decompressor's buffers. It is also strict where tarfile is lenient, because layers
come from registries: a bad checksum, an unknown entry type, a sparse file, an oversized
extension header or data that ends before the size a header declared are
:class:`~boxen.common.errors.InvalidArgument` errors naming the entry.

Names are decoded as UTF-8 with ``surrogateescape``, as :func:`os.fsdecode` does on Linux, so
any bytes in a name reach the file system unchanged, except NUL, which no Linux path or
attribute name can hold (a pax record may carry one): such an entry is refused. Numbers are
checked against what the kernel can store before anything is made: ids are 32-bit with
``0xFFFFFFFF`` reserved (it means "no change" to ``chown``), times fit a 64-bit ``time_t``,
sizes a 64-bit ``off_t``, device numbers 32 bits each; pax numbers are plain decimal digits.
"""

from __future__ import annotations

import os
import struct

from boxen.common.errors import InvalidArgument
from boxen.common.record import Record

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_MAX_EXTENSION = 1 << 20  # pax and GNU long-name entries larger than this are refused

# Entry types, named after the tar typeflags they come from.
REGULAR = "file"
HARDLINK = "hardlink"
SYMLINK = "symlink"
CHAR = "char"
BLOCKDEV = "block"
DIRECTORY = "dir"
FIFO = "fifo"

_TYPES = {
    b"0": REGULAR, b"\0": REGULAR, b"7": REGULAR,
    b"1": HARDLINK, b"2": SYMLINK, b"3": CHAR, b"4": BLOCKDEV, b"5": DIRECTORY, b"6": FIFO,
}
_EXTENSIONS = frozenset(b"xgLK")
_USTAR = b"ustar\x00"
_XATTR = "SCHILY.xattr."
_MAX_ID = (1 << 32) - 2  # uid_t is 32 bits and (uid_t)-1 means "leave unchanged"
_MAX_SIZE = (1 << 63) - 1  # off_t
_MAX_SECONDS = (1 << 63) - 1  # time_t
_MAX_DEVICE = (1 << 32) - 1  # major and minor numbers are unsigned int in makedev(3)
_MIN_NS, _MAX_NS = (-_MAX_SECONDS - 1) * 1_000_000_000, _MAX_SECONDS * 1_000_000_000 + 999_999_999


class TarEntry(Record):
    """One member of the archive, extension headers already folded in.

    ``mode`` holds the permission bits with setuid, setgid and sticky (``0o7777``);
    ``mtime_ns`` is nanoseconds since the epoch; ``xattrs`` maps attribute names to raw bytes.
    """

    name: str
    type: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] | None = None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _cstring(field: bytes) -> bytes:
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def _number(field: bytes, what: str, name: str) -> int:
    if field[0] & 0x80:  # base-256: big-endian two's complement, first byte's top bit a flag
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:
            value -= 1 << (8 * len(field) - 8)
        return value
    digits = field.strip(b" \0")
    if not digits:
        return 0
    try:
        return int(digits, 8)
    except ValueError:
        raise InvalidArgument(f"tar header field {what} is not an octal number: {digits!r}", field=name) from None


def _pax_number(value: bytes, key: str, name: str) -> int:
    """A pax decimal record: ASCII digits only (``int()`` would also take ``+``, ``_`` and spaces)."""
    if not value.isdigit() or not value.isascii():
        raise InvalidArgument(f"pax {key} record {value!r} is not a decimal number", field=name)
    return int(value)


def _pax_mtime(value: bytes, name: str) -> int:
    text = value.decode("ascii", "replace")
    negative = text.startswith("-")
    whole, dot, fraction = text.removeprefix("-").partition(".")
    if not (whole or fraction) or not all(part.isdigit() and part.isascii() for part in (whole, fraction) if part) \
            or (dot and not fraction):
        raise InvalidArgument(f"pax mtime {text!r} is not a number", field=name)
    nanoseconds = int(whole or "0") * 1_000_000_000 + int((fraction + "000000000")[:9])
    return -nanoseconds if negative else nanoseconds


def _check_range(value: int, low: int, high: int, what: str, name: str) -> int:
    if not low <= value <= high:
        raise InvalidArgument(f"tar header {what} {value} is out of range (expected {low} to {high})", field=name)
    return value


def _no_nul(text: str, what: str, name: str) -> str:
    if "\0" in text:
        raise InvalidArgument(f"the entry's {what} contains a NUL byte, which no Linux path can hold",
                              field=name.replace("\0", "\\0"))
    return text


def _pax_records(data: bytes, name: str) -> dict[str, bytes]:
    """``length key=value\\n`` records; values stay bytes (xattrs are binary)."""
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos, pos + 20)
        try:
            length = int(data[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        end = pos + length
        if length <= 0 or end > len(data) or data[end - 1] != 0x0A or b"=" not in data[space:end]:
            raise InvalidArgument(f"malformed pax record at offset {pos} of an extended header", field=name)
        key, _, value = data[space + 1:end - 1].partition(b"=")
        records[_decode(key)] = value
        pos = end
    return records


def _checksum_ok(block: bytes) -> bool:
    """The header's checksum: the sum of its bytes with the checksum field as spaces (some old
    writers summed signed bytes)."""
    digits = block[148:156].strip(b" \0")
    try:
        checksum = int(digits, 8)
    except ValueError:
        return False
    if checksum == sum(block[:148]) + 256 + sum(block[156:]):
        return True
    return checksum == sum(struct.unpack("148b", block[:148])) + 256 + sum(struct.unpack("356b", block[156:]))


class ByteSource:
    """Sequential reads over a supplier of chunks; ``next_chunk()`` returns ``b""`` at the end."""

    __slots__ = ("_buf", "_next", "_pos", "offset")

    def __init__(self, next_chunk) -> None:
        self._next = next_chunk
        self._buf = b""
        self._pos = 0
        self.offset = 0  # bytes consumed so far

    def _fill(self) -> bool:
        chunk = self._next()
        if not chunk:
            return False
        self._buf = chunk
        self._pos = 0
        return True

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the stream."""
        pos = self._pos
        if len(self._buf) - pos >= n:
            self._pos = pos + n
            self.offset += n
            return self._buf[pos:pos + n]
        parts = []
        want = n
        while want:
            available = len(self._buf) - self._pos
            if not available and not self._fill():
                break
            take = min(want, len(self._buf) - self._pos)
            parts.append(self._buf[self._pos:self._pos + take])
            self._pos += take
            want -= take
        data = b"".join(parts)
        self.offset += len(data)
        return data

    def copy_to(self, fd: int, n: int) -> int:
        """Write the next ``n`` bytes to ``fd``; returns how many there were (``n`` unless the stream ended)."""
        left = n
        write = os.write
        while left:
            available = len(self._buf) - self._pos
            if not available:
                if not self._fill():
                    break
                available = len(self._buf)
            take = min(left, available)
            view = memoryview(self._buf)[self._pos:self._pos + take]
            while view:
                view = view[write(fd, view):]
            self._pos += take
            left -= take
        self.offset += n - left
        return n - left

    def skip(self, n: int) -> int:
        """Discard the next ``n`` bytes; returns how many there were."""
        left = n
        while left:
            available = len(self._buf) - self._pos
            if not available:
                if not self._fill():
                    break
                available = len(self._buf)
            take = min(left, available)
            self._pos += take
            left -= take
        self.offset += n - left
        return n - left

    def drain(self) -> int:
        """Discard everything left; returns how many bytes that was."""
        total = len(self._buf) - self._pos
        self._pos = len(self._buf)
        while self._fill():
            total += len(self._buf)
            self._pos = len(self._buf)
        self.offset += total
        return total


class TarReader:
    """Entries of a tar stream, one at a time: call :meth:`next`, then consume the entry's data
    with :meth:`copy_data` (or let :meth:`next` skip it)."""

    def __init__(self, source: ByteSource) -> None:
        self.source = source
        self._data_left = 0  # data bytes of the current entry not yet consumed
        self._padding = 0
        self._global: dict[str, bytes] = {}
        self._last = "the start of the archive"

    def _truncated(self, name: str, what: str) -> InvalidArgument:
        return InvalidArgument(f"the layer ends inside {what}: the archive is truncated", field=name)

    def _finish_entry(self) -> None:
        if self._data_left or self._padding:
            want = self._data_left + self._padding
            if self.source.skip(want) != want:
                raise self._truncated(self._last, "this entry's data")
            self._data_left = self._padding = 0

    def copy_data(self, fd: int, name: str) -> None:
        """Write the current entry's data to ``fd``."""
        size = self._data_left
        copied = self.source.copy_to(fd, size)
        self._data_left = 0
        if copied != size:
            raise InvalidArgument(
                f"the entry declares {size} bytes but the layer ends after {copied}: truncated or lying header",
                field=name,
            )
        if self._padding and self.source.skip(self._padding) != self._padding:
            raise self._truncated(name, "the padding after this entry")
        self._padding = 0

    def _block(self) -> bytes | None:
        block = self.source.read(BLOCK)
        if not block:
            return None
        if len(block) != BLOCK:
            raise self._truncated(f"after {self._last}", "a tar header")
        return block

    def _extension_data(self, size: int, name: str) -> bytes:
        if size > _MAX_EXTENSION:
            raise InvalidArgument(f"an extended header of {size} bytes is larger than the {_MAX_EXTENSION} allowed",
                                  field=name)
        data = self.source.read(size)
        padding = -size % BLOCK
        if len(data) != size or self.source.skip(padding) != padding:
            raise self._truncated(name, "an extended header")
        return data

    def next(self) -> TarEntry | None:
        """The next entry, or ``None`` at the end of the archive."""
        self._finish_entry()
        pax: dict[str, bytes] = {}
        long_name = long_link = None
        while True:
            block = self._block()
            if block is None or block == _ZERO_BLOCK:
                return None
            entry_hint = f"after {self._last}"
            if not _checksum_ok(block):
                raise InvalidArgument("bad tar header checksum: not a tar archive, or a corrupt one",
                                      field=entry_hint)
            typeflag = block[156:157]
            size = _number(block[124:136], "size", entry_hint)
            if size < 0:
                raise InvalidArgument(f"negative size {size} in a tar header", field=entry_hint)
            if typeflag and typeflag[0] in _EXTENSIONS:
                data = self._extension_data(size, entry_hint)
                if typeflag == b"x":
                    pax.update(_pax_records(data, entry_hint))
                elif typeflag == b"g":
                    self._global.update(_pax_records(data, entry_hint))
                elif typeflag == b"L":
                    long_name = _decode(_cstring(data))
                else:
                    long_link = _decode(_cstring(data))
                continue
            return self._entry(block, typeflag, size, pax, long_name, long_link)

    def _entry(self, block: bytes, typeflag: bytes, size: int, pax: dict[str, bytes],
               long_name: str | None, long_link: str | None) -> TarEntry:
        records = {**self._global, **pax} if self._global else pax
        if "path" in records:
            name = _decode(records["path"])
        elif long_name is not None:
            name = long_name
        else:
            name = _decode(_cstring(block[0:100]))
            if block[257:263] == _USTAR and block[345] != 0:
                name = _decode(_cstring(block[345:500])) + "/" + name
        kind = _TYPES.get(typeflag)
        if kind is None:
            label = "a GNU sparse file" if typeflag == b"S" else f"type {typeflag!r}"
            raise InvalidArgument(f"unsupported tar entry ({label})", field=name)
        if kind == REGULAR and name.endswith("/"):
            kind = DIRECTORY  # pre-POSIX archives mark directories by a trailing slash
        mode = _number(block[100:108], "mode", name) & 0o7777
        uid = _number(block[108:116], "uid", name)
        gid = _number(block[116:124], "gid", name)
        mtime_ns = _number(block[136:148], "mtime", name) * 1_000_000_000
        linkname = long_link if long_link is not None else _decode(_cstring(block[157:257]))
        xattrs = None
        if records:
            if any(key.startswith("GNU.sparse.") for key in records):
                raise InvalidArgument("unsupported tar entry (a pax sparse file)", field=name)
            if "size" in records:
                size = _pax_number(records["size"], "size", name)
            if "uid" in records:
                uid = _pax_number(records["uid"], "uid", name)
            if "gid" in records:
                gid = _pax_number(records["gid"], "gid", name)
            if "mtime" in records:
                mtime_ns = _pax_mtime(records["mtime"], name)
            if "linkpath" in records:
                linkname = _decode(records["linkpath"])
            xattrs = {key[len(_XATTR):]: value for key, value in records.items() if key.startswith(_XATTR)} or None
        if "\0" in name or "\0" in linkname or (xattrs and any("\0" in key for key in xattrs)):
            _no_nul(name, "path", name)
            _no_nul(linkname, "link target", name)
            for key in xattrs or ():
                _no_nul(key, "extended attribute name", name)
        if size < 0 or uid < 0 or gid < 0:
            raise InvalidArgument("negative size, uid or gid in the tar header", field=name)
        if size > _MAX_SIZE or uid > _MAX_ID or gid > _MAX_ID or not _MIN_NS <= mtime_ns <= _MAX_NS:
            _check_range(size, 0, _MAX_SIZE, "size", name)
            _check_range(uid, 0, _MAX_ID, "uid", name)
            _check_range(gid, 0, _MAX_ID, "gid", name)
            _check_range(mtime_ns // 1_000_000_000, -_MAX_SECONDS - 1, _MAX_SECONDS, "mtime (seconds)", name)
        if kind in (REGULAR,):
            self._data_left, self._padding = size, -size % BLOCK
        elif size:
            # Links, directories, devices and fifos have no data; skip whatever a writer put there.
            self._data_left, self._padding = size, -size % BLOCK
            size = 0
        devmajor = devminor = 0
        if kind in (CHAR, BLOCKDEV):
            devmajor = _number(block[329:337], "devmajor", name)
            devminor = _number(block[337:345], "devminor", name)
            _check_range(devmajor, 0, _MAX_DEVICE, "devmajor", name)
            _check_range(devminor, 0, _MAX_DEVICE, "devminor", name)
        self._last = repr(name)
        return TarEntry(name, kind, mode, uid, gid, size, mtime_ns, linkname, devmajor, devminor, xattrs)
