"""The gzip decoder: ISA-L when installed, with zlib's results and zlib's streaming interface."""

from __future__ import annotations

import gzip
import importlib
import os
import sys
import zlib

import pytest

from boxen.image.layers import inflate


def _inflate_all(decoder, data: bytes, limit: int = 1 << 16) -> bytes:
    out = []
    while data:
        out.append(decoder.decompress(data, limit))
        data = decoder.unconsumed_tail
    out.append(decoder.flush())
    return b"".join(out)


def test_isal_is_used_when_installed():
    pytest.importorskip("isal.isal_zlib")
    assert inflate.DECODER == "isal"


def test_same_bytes_as_zlib_in_bounded_chunks():
    payload = os.urandom(1 << 16) + b"layer " * 100_000
    blob = gzip.compress(payload, mtime=0)
    ours = inflate.decompressobj()
    assert _inflate_all(ours, blob) == payload
    assert ours.eof
    assert _inflate_all(zlib.decompressobj(16 + zlib.MAX_WBITS), blob) == payload


def test_corrupt_data_raises_the_declared_error():
    blob = bytearray(gzip.compress(b"x" * 100_000, mtime=0))
    blob[20:40] = b"\xff" * 20
    with pytest.raises(inflate.error):
        _inflate_all(inflate.decompressobj(), bytes(blob))


def test_falls_back_to_zlib_without_isal(monkeypatch):
    monkeypatch.setitem(sys.modules, "isal", None)  # "import isal" now fails
    fallback = importlib.reload(inflate)
    try:
        assert fallback.DECODER == "zlib"
        assert _inflate_all(fallback.decompressobj(), gzip.compress(b"abc" * 1000)) == b"abc" * 1000
    finally:
        monkeypatch.undo()
        importlib.reload(inflate)
