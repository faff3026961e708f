"""Layers built in the tests with :mod:`tarfile`, the honest ones and the evil ones."""

from __future__ import annotations

import gzip
import io
import os
import tarfile

import pytest
import zstandard

MTIME = 1_700_000_000


class LayerBuilder:
    """Appends entries to an in-memory tar; :meth:`tar`, :meth:`gzip`, :meth:`zstd` finish it.

    The ``layer`` fixture is this class, so tests also reach :attr:`MTIME`,
    :meth:`lying_header` and :meth:`tree` through it.
    """

    MTIME = MTIME

    def __init__(self, fmt: int = tarfile.PAX_FORMAT) -> None:
        self._buf = io.BytesIO()
        self._tar = tarfile.open(fileobj=self._buf, mode="w", format=fmt)  # noqa: SIM115 (closed by tar())

    def _add(self, name: str, kind: bytes, *, data: bytes = b"", mode: int = 0o644, uid: int = 0, gid: int = 0,
             mtime: float = MTIME, linkname: str = "", xattrs: dict[str, bytes] | None = None,
             devmajor: int = 0, devminor: int = 0) -> LayerBuilder:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.uid, info.gid = uid, gid
        info.mtime = mtime
        info.linkname = linkname
        info.size = len(data)
        info.devmajor, info.devminor = devmajor, devminor
        if xattrs:
            info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in xattrs.items()}
        self._tar.addfile(info, io.BytesIO(data) if data else None)
        return self

    def file(self, name: str, data: bytes = b"", **kw) -> LayerBuilder:
        return self._add(name, tarfile.REGTYPE, data=data, **kw)

    def dir(self, name: str, mode: int = 0o755, **kw) -> LayerBuilder:
        return self._add(name, tarfile.DIRTYPE, mode=mode, **kw)

    def symlink(self, name: str, target: str, **kw) -> LayerBuilder:
        return self._add(name, tarfile.SYMTYPE, linkname=target, mode=0o777, **kw)

    def hardlink(self, name: str, target: str, **kw) -> LayerBuilder:
        return self._add(name, tarfile.LNKTYPE, linkname=target, **kw)

    def device(self, name: str, major: int, minor: int, kind: bytes = tarfile.CHRTYPE, **kw) -> LayerBuilder:
        return self._add(name, kind, devmajor=major, devminor=minor, **kw)

    def fifo(self, name: str, **kw) -> LayerBuilder:
        return self._add(name, tarfile.FIFOTYPE, **kw)

    def whiteout(self, path: str) -> LayerBuilder:
        head, _, base = path.rpartition("/")
        return self.file(f"{head}/.wh.{base}" if head else f".wh.{base}")

    def opaque(self, directory: str) -> LayerBuilder:
        return self.file(f"{directory}/.wh..wh..opq")

    def raw(self, data: bytes) -> LayerBuilder:
        """Bytes appended as they are (for headers that lie)."""
        self._tar.fileobj.write(data)
        self._tar.offset += len(data)
        return self

    def tar(self) -> bytes:
        self._tar.close()
        return self._buf.getvalue()

    def gzip(self) -> bytes:
        return gzip.compress(self.tar(), mtime=0)

    def zstd(self) -> bytes:
        return zstandard.ZstdCompressor().compress(self.tar())

    @staticmethod
    def lying_header(name: str, declared: int, actual: bytes) -> bytes:
        """A ustar header declaring ``declared`` bytes, followed by only ``actual``."""
        info = tarfile.TarInfo(name)
        info.size = declared
        info.mtime = MTIME
        return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape") + actual

    @staticmethod
    def tree(root: str) -> dict[str, tuple]:
        """Everything under ``root``: type, mode, size, link target, content of small files."""
        tree = {}
        for directory, dirs, files in os.walk(root):
            for name in dirs + files:
                path = os.path.join(directory, name)
                st = os.lstat(path)
                rel = os.path.relpath(path, root)
                kind = oct(st.st_mode)
                extra = os.readlink(path) if os.path.islink(path) else None
                if os.path.isfile(path) and not os.path.islink(path):
                    with open(path, "rb") as f:
                        extra = f.read()
                tree[rel] = (kind, extra)
        return tree


@pytest.fixture
def layer():
    """A factory of :class:`LayerBuilder`."""
    return LayerBuilder


@pytest.fixture
def target(tmp_path):
    """An empty directory to apply layers onto, beside an ``outside`` directory that must stay untouched."""
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("host secret\n")
    return root


@pytest.fixture
def untouched(tmp_path, target):
    """A check that nothing beside ``root`` changed: call it at the end of a hostile-input test."""
    before = LayerBuilder.tree(str(tmp_path / "outside"))

    def check():
        assert sorted(os.listdir(tmp_path)) == ["outside", "root"]
        assert LayerBuilder.tree(str(tmp_path / "outside")) == before
        assert (tmp_path / "outside" / "passwd").read_text() == "host secret\n"

    return check
