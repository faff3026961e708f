"""A layer blob turned into a verified, decompressed byte stream by a background thread.

A layer travels compressed (gzip, zstd, or not at all) and is named twice: the manifest names
the **compressed** blob by its digest, and the image config lists the **diff ID** of each
layer, the sha256 of the *uncompressed* tar. Unpacking checks both as the bytes go by, so a
layer is read exactly once:

::

    blob file --read--> [digest of blob] --decompress--> [sha256 = diff ID] --chunks--> tar reader
                \\______________ background thread ______________/            main thread

Decompressing (ISA-L or zlib, see :mod:`.inflate`, or zstd) and hashing release the GIL, so on two cores the thread keeps
the tar reader, which creates files, fed without waiting. The queue between them is bounded,
so memory stays at a few megabytes whatever the layer's size, and each chunk is at most
:data:`CHUNK` bytes however well the data compressed (a "zip bomb" costs time, not memory).
A blob of at most :data:`INLINE_MAX` bytes (as its descriptor declares) is decompressed on the
reading thread instead: handing a few chunks between threads costs more than the work.

The compression is **sniffed** from the first bytes (gzip starts ``1f 8b``, a zstd frame
``28 b5 2f fd``), as containerd does, because media types lie in practice (Docker's
``rootfs.diff.tar.gzip`` is also used for uncompressed tars); anything else is read as a
plain tar. Errors found by the thread (corrupt or truncated data, a digest or size that
does not match) are raised in the reader's thread, at the point where the bytes run out.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

from boxen.common import digest as digests
from boxen.common.errors import InvalidArgument
from boxen.image.layers import inflate

CHUNK = 1 << 20
_READ = 256 << 10
#: Blobs up to this size (as their descriptor declares) are decompressed on the reading thread.
INLINE_MAX = 4 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

GZIP = "gzip"
ZSTD = "zstd"
NONE = "none"


def sniff(head: bytes) -> str:
    """The compression of a blob that starts with ``head``: ``gzip``, ``zstd`` or ``none``."""
    if head.startswith(_GZIP_MAGIC):
        return GZIP
    if head.startswith(_ZSTD_MAGIC):
        return ZSTD
    return NONE


class _Stopped(Exception):
    """The consumer went away; the thread ends quietly."""


class LayerStream:
    """Decompresses ``blob`` in a thread; :meth:`next_chunk` hands out the tar bytes.

    ``digest`` and ``size``, when given, are what the blob must hash to and how long it must be
    (a manifest's layer descriptor); a mismatch is an ``InvalidArgument`` raised by the last
    :meth:`next_chunk`. After the stream is exhausted, :attr:`diff_id` is the sha256 of the
    tar, :attr:`digest` the blob's digest and :attr:`size` its length.
    """

    def __init__(self, blob: BinaryIO, *, digest: str | None = None, size: int | None = None,
                 progress: Callable[[int], None] | None = None) -> None:
        self._blob = blob
        self._expected = digest
        self._expected_size = size
        self._progress = progress
        self._algorithm = digests.split(digest)[0] if digest else "sha256"
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._stop = False
        self._done = False
        self.compression: str | None = None
        self.diff_id: str | None = None
        self.digest: str | None = None
        self.size = 0
        self._inline = None
        self._thread = None
        if size is not None and size <= INLINE_MAX:
            # A small blob: handing chunks between threads costs more than decompressing it.
            self._inline = self._outputs()
        else:
            self._thread = threading.Thread(target=self._run, name="layer-decompress", daemon=True)
            self._thread.start()

    # --- consumer side ------------------------------------------------------------------

    def next_chunk(self) -> bytes:
        """The next piece of the tar stream; ``b""`` at its end."""
        if self._done:
            return b""
        if self._inline is not None:
            item = next(self._inline, None)
            if item is None:
                self._done = True
                return b""
            data, offset = item
            if self._progress is not None:
                self._progress(offset)
            return data
        item = self._queue.get()
        if item is None:
            self._done = True
            self._thread.join()
            return b""
        if isinstance(item, BaseException):
            self._done = True
            self._thread.join()
            raise item
        data, offset = item
        if self._progress is not None:
            self._progress(offset)
        return data

    def close(self) -> None:
        """Stop the thread (if still running) and wait for it."""
        if self._thread is None:
            return
        self._stop = True
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    # --- producer side (the thread) ----------------------------------------------------------

    def _put(self, item: object) -> None:
        while True:
            if self._stop:
                raise _Stopped
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            for item in self._outputs():
                self._put(item)
        except _Stopped:
            return
        except BaseException as exc:  # noqa: BLE001 (handed to the consumer, who raises it)
            try:
                self._put(exc)
            except _Stopped:
                return
            return
        try:
            self._put(None)
        except _Stopped:
            return

    def _outputs(self):
        """Decompressed pieces with the compressed bytes read so far: (data, offset); checks at the end."""
        blob_hash = hashlib.new(self._algorithm)
        tar_hash = hashlib.sha256()
        read = self._blob.read

        def chunks():
            while True:
                data = read(_READ)
                if not data:
                    return
                blob_hash.update(data)
                self.size += len(data)
                yield data

        source = chunks()
        first = next(source, b"")
        self.compression = sniff(first)
        decode = {GZIP: _gunzip, ZSTD: _unzstd, NONE: _plain}[self.compression]
        for out in decode(first, source):
            tar_hash.update(out)
            yield out, self.size
        self.diff_id = f"sha256:{tar_hash.hexdigest()}"
        self.digest = f"{self._algorithm}:{blob_hash.hexdigest()}"
        if self._expected_size is not None and self.size != self._expected_size:
            raise InvalidArgument(
                f"the layer blob is {self.size} bytes but its descriptor says {self._expected_size}", field="size"
            )
        if self._expected is not None and self.digest != self._expected:
            raise InvalidArgument(
                f"the layer blob's bytes hash to {self.digest}, not to the digest that names it", field=self._expected
            )


def _plain(first: bytes, rest):
    if first:
        yield first
    yield from rest


def _gunzip(first: bytes, rest):
    """gzip members one after another (``cat a.gz b.gz`` is valid gzip); zero padding allowed."""
    decompressor = inflate.decompressobj()
    data = first
    while True:
        if not data:
            data = next(rest, b"")
            if not data:
                tail = decompressor.flush()
                if tail:
                    yield tail
                if not decompressor.eof:
                    raise InvalidArgument("the gzip stream is truncated (it ends before its end marker)",
                                          field="layer")
                return
        if decompressor.eof:  # what follows a member: another member, or zero padding
            if data[0] == 0:
                data = data.lstrip(b"\0")
                continue
            if data[0] != _GZIP_MAGIC[0]:
                raise InvalidArgument("unexpected bytes after the end of the gzip stream", field="layer")
            decompressor = inflate.decompressobj()
        try:
            out = decompressor.decompress(data, CHUNK)
        except inflate.error as exc:
            raise InvalidArgument(f"the gzip data is corrupt ({exc})", field="layer") from None
        if out:
            yield out
        data = decompressor.unused_data if decompressor.eof else decompressor.unconsumed_tail


class _ZstdFrames:
    """Walks zstd frame and block headers (RFC 8878) to tell whether the input ended on a frame
    boundary: the zstandard stream reader returns a short result, not an error, on a
    truncated frame."""

    def __init__(self) -> None:
        self._buf = b""
        self._skip = 0  # bytes of block data or checksum still to pass over
        self._state = "magic"
        self._checksum = False

    def feed(self, data: bytes) -> None:
        if self._skip >= len(data):
            self._skip -= len(data)
            return
        buf = self._buf + data[self._skip:]
        self._skip = 0
        pos = 0
        while True:
            if self._state == "magic":
                if len(buf) - pos < 4:
                    break
                magic = int.from_bytes(buf[pos:pos + 4], "little")
                if magic == 0xFD2FB528:
                    self._state = "header"
                    pos += 4
                elif magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame: 4-byte size, then data
                    if len(buf) - pos < 8:
                        break
                    self._skip = int.from_bytes(buf[pos + 4:pos + 8], "little")
                    pos += 8
                else:
                    raise InvalidArgument("unexpected bytes between zstd frames", field="layer")
            elif self._state == "header":
                if len(buf) - pos < 1:
                    break
                descriptor = buf[pos]
                single = descriptor >> 5 & 1
                size = 1 + (0 if single else 1) + (0, 1, 2, 4)[descriptor & 3]
                size += (single, 2, 4, 8)[descriptor >> 6]
                if len(buf) - pos < size:
                    break
                self._checksum = bool(descriptor & 4)
                self._state = "block"
                pos += size
            else:  # block header: last-block bit, 2-bit type, 21-bit size
                if len(buf) - pos < 3:
                    break
                header = int.from_bytes(buf[pos:pos + 3], "little")
                pos += 3
                self._skip = 1 if (header >> 1 & 3) == 1 else header >> 3
                if header & 1:
                    self._skip += 4 if self._checksum else 0
                    self._state = "magic"
            if self._skip:
                if self._skip >= len(buf) - pos:
                    self._skip -= len(buf) - pos
                    pos = len(buf)
                    break
                pos += self._skip
                self._skip = 0
        self._buf = buf[pos:]

    def complete(self) -> bool:
        return self._state == "magic" and not self._buf and not self._skip


def _unzstd(first: bytes, rest):
    """zstd frames one after another; each read's output bounded to :data:`CHUNK`."""
    import zstandard

    frames = _ZstdFrames()

    class _Input:
        def __init__(self) -> None:
            self.pending = first

        def read(self, n: int = -1) -> bytes:
            data = self.pending or next(rest, b"")
            self.pending = b""
            frames.feed(data)
            return data

    # stream_reader needs only an object with read(), whatever its type hints say
    reader = zstandard.ZstdDecompressor().stream_reader(
        _Input(), read_size=_READ, read_across_frames=True  # type: ignore[arg-type]
    )
    try:
        while True:
            out = reader.read(CHUNK)
            if not out:
                break
            yield out
    except zstandard.ZstdError as exc:
        raise InvalidArgument(f"the zstd data is corrupt ({exc})", field="layer") from None
    if not frames.complete():
        raise InvalidArgument("the zstd stream is truncated (it ends inside a frame)", field="layer")
