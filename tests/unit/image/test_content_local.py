"""The local content store on a full disk: a clear error, and the ingest's bytes freed at once."""

from __future__ import annotations

import errno
import os

import pytest

from boxen.common.digest import of_bytes
from boxen.common.errors import KernelError
from boxen.image.content.local import LocalContentStore
from boxen.oci.image import Descriptor


class _FullFile:
    """Stands for an ingest's data file on a file system that has just filled up."""

    def __init__(self, real) -> None:
        self.real = real

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def close(self) -> None:
        self.real.close()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # closing flushes, and fails again


def test_a_full_disk_removes_the_ingest(tmp_path):
    store = LocalContentStore(str(tmp_path / "content"))
    blob = b"x" * 1000
    writer = store.writer("pull-1", Descriptor("application/octet-stream", of_bytes(blob), len(blob)))
    writer.write(blob[:10])
    writer._file = _FullFile(writer._file)
    with pytest.raises(KernelError, match="No space left on device.*it was removed") as caught:
        writer.write(blob[10:])
    assert caught.value.errno == errno.ENOSPC
    writer.close()
    assert store.statuses() == []
    assert os.listdir(tmp_path / "content" / "ingest") == []


def test_other_write_errors_keep_the_ingest_to_resume(tmp_path):
    store = LocalContentStore(str(tmp_path / "content"))
    writer = store.writer("pull-2")
    writer.write(b"abc")

    class Broken(_FullFile):
        def write(self, data: bytes) -> int:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

        def close(self) -> None:
            self.real.close()

    writer._file = Broken(writer._file)
    with pytest.raises(KernelError, match="Input/output error"):
        writer.write(b"def")
    writer.close()
    assert [s.ref for s in store.statuses()] == ["pull-2"]


def test_a_full_disk_while_an_ingest_starts_removes_it(tmp_path, monkeypatch):
    """Two downloads at once: the second may find the disk full while writing its ingest's ref."""
    from boxen.image.content import local

    store = LocalContentStore(str(tmp_path))
    blob = b"x" * 100

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(local, "_write_atomic", full)
    with pytest.raises(KernelError) as caught:
        store.writer("pull-1", Descriptor("application/octet-stream", of_bytes(blob), len(blob)))
    assert caught.value.errno == errno.ENOSPC and "ingest 'pull-1'" in str(caught.value)
    assert os.listdir(tmp_path / "ingest") == []  # what it made is gone
