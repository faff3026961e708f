"""The content store on disk, laid out as containerd lays out its own.

::

    <root>/blobs/sha256/<hex>            committed blobs, read-only (0444), never modified
    <root>/labels/sha256/<hex>.json      labels of a blob (replaced atomically)
    <root>/ingest/<sha256 of ref>/       one directory per ingest in progress:
        ref                              the caller's name for it
        data                             the bytes written so far
        expected                         the digest it should become (if the caller said)
        total                            the size it should reach (if the caller said)
        startedat                        when it began
        lock                             flock()ed while a writer has the ingest open

A commit flushes ``data`` to disk, checks its size and digest, and renames it to its blob
path: ``rename(2)`` inside one file system is atomic, so a blob either is complete or is not
there. Two processes that ingest the same blob do not corrupt each other: each writes its
own ingest (the ref names it, and the lock refuses a second writer on one ref) and the second
rename simply replaces identical bytes.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, NoReturn

from boxen.common import digest as digests
from boxen.common import jsonio
from boxen.common.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    kernel_error,
)
from boxen.image.content import Info, Status
from boxen.oci.image import Descriptor

_CHUNK = 1 << 20


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _remove_ingest(directory: str, *, ignore_errors: bool = False) -> None:
    """Remove an ingest directory: it holds only files (data, lock, ref, ...), never subdirectories.

    (A flat removal rather than ``shutil.rmtree``: shutil is costly to import (bench/RESULTS.md, "Import costs"),
    and this runs for every blob a pull writes.)
    """
    try:
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)
    except OSError:
        if not ignore_errors:
            raise


def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


class LocalWriter:
    """An open ingest (see :class:`boxen.image.content.Writer`)."""

    def __init__(self, store: LocalContentStore, ref: str, directory: str, lock_fd: int, algorithm: str,
                 expected: Descriptor | None) -> None:
        self.ref = ref
        self._store = store
        self._dir = directory
        self._lock_fd = lock_fd
        self._expected = expected
        self._digester = digests.Digester(algorithm)
        self._file = open(os.path.join(directory, "data"), "ab+")
        self._file.seek(0)
        while chunk := self._file.read(_CHUNK):  # resuming: hash what is already there
            self._digester.update(chunk)
        self.offset = self._digester.size

    def write(self, data: bytes) -> int:
        expected = self._expected
        if expected is not None and self.offset + len(data) > expected.size:
            self._discard()
            raise InvalidArgument(
                f"{expected.digest}: got more than the {expected.size} bytes its descriptor declares", field=self.ref
            )
        try:
            self._file.write(data)
        except OSError as exc:
            self._fail(exc)
        self._digester.update(data)
        self.offset += len(data)
        return len(data)

    def commit(self, size: int, digest: str, labels: dict[str, str] | None = None) -> None:
        digests.validate(digest)
        if size and self.offset < size:
            raise FailedPrecondition(f"{self.offset} of {size} bytes written; cannot commit {digest} yet", field=self.ref)
        if size and self.offset > size:
            self._discard()
            raise InvalidArgument(f"{self.offset} bytes written, more than the {size} expected for {digest}", field=self.ref)
        actual = self._digest_as(digest.partition(":")[0])
        if actual != digest:
            self._discard()
            raise InvalidArgument(f"content does not match its digest: expected {digest}, got {actual}", field=self.ref)
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            self._fail(exc)
        self._file.close()
        data = os.path.join(self._dir, "data")
        os.chmod(data, 0o444)
        target = self._store._blob_path(digest)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(data, target)
        if labels:
            self._store._write_labels(digest, labels)
        self._release(remove=True)

    def _digest_as(self, algorithm: str) -> str:
        if algorithm == self._digester.algorithm:
            return self._digester.digest
        h = hashlib.new(algorithm)
        self._file.flush()
        with open(os.path.join(self._dir, "data"), "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        return f"{algorithm}:{h.hexdigest()}"

    def _fail(self, exc: OSError) -> NoReturn:
        """A write failed: on a full disk the bytes so far are worth less than the space they
        take (and resuming will not help), so the ingest goes; on any other error it stays,
        for the next try to resume."""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            try:
                self._file.close()
            except OSError:
                pass  # (closing flushes the buffer, which fails again; the file is closed all the same)
            self._release(remove=True)
        raise kernel_error(exc.errno or 0, "write", os.path.join(self._dir, "data"),
                           f"ingest {self.ref!r}" + ("; it was removed" if self._lock_fd < 0 else "")) from exc

    def _discard(self) -> None:
        self._file.close()
        self._release(remove=True)

    def _release(self, *, remove: bool) -> None:
        if self._lock_fd < 0:
            return
        if remove:
            _remove_ingest(self._dir, ignore_errors=True)
        os.close(self._lock_fd)
        self._lock_fd = -1

    def close(self) -> None:
        if self._lock_fd >= 0:
            self._file.close()
            self._release(remove=False)

    def __enter__(self) -> LocalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalContentStore:
    """Blobs under ``root`` (see the module docstring for the layout)."""

    def __init__(self, root: str) -> None:
        self.root = root
        for sub in ("blobs", "ingest", "labels"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)

    def _blob_path(self, digest: str) -> str:
        algorithm, encoded = digests.split(digest)
        return os.path.join(self.root, "blobs", algorithm, encoded)

    def _labels_path(self, digest: str) -> str:
        algorithm, encoded = digests.split(digest)
        return os.path.join(self.root, "labels", algorithm, f"{encoded}.json")

    def _ingest_dir(self, ref: str) -> str:
        return os.path.join(self.root, "ingest", hashlib.sha256(ref.encode()).hexdigest())

    def _read_labels(self, digest: str) -> dict[str, str]:
        text = _read_text(self._labels_path(digest))
        return jsonio.loads(text, source=self._labels_path(digest)) if text else {}  # type: ignore[return-value]

    def _write_labels(self, digest: str, labels: dict[str, str]) -> None:
        path = self._labels_path(digest)
        if not labels:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _write_atomic(path, jsonio.dumps(labels).encode())

    def path(self, digest: str) -> str:
        path = self._blob_path(digest)
        if not os.path.exists(path):
            raise NotFound(f"blob {digest} not found", field="digest")
        return path

    def info(self, digest: str) -> Info:
        try:
            st = os.stat(self._blob_path(digest))
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found", field="digest") from None
        try:
            updated = os.stat(self._labels_path(digest)).st_mtime
        except FileNotFoundError:
            updated = st.st_mtime
        return Info(digest, st.st_size, st.st_mtime, updated, self._read_labels(digest))

    def reader(self, digest: str) -> BinaryIO:
        try:
            return open(self._blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found", field="digest") from None

    def writer(self, ref: str, expected: Descriptor | None = None) -> LocalWriter:
        if not ref:
            raise InvalidArgument("an ingest needs a non-empty ref", field="ref")
        algorithm = "sha256"
        if expected is not None:
            algorithm = digests.split(expected.digest)[0]
            if os.path.exists(self._blob_path(expected.digest)):
                raise AlreadyExists(f"blob {expected.digest} already exists", field="digest")
        directory = self._ingest_dir(ref)
        try:
            os.makedirs(directory, exist_ok=True)
            lock_fd = os.open(os.path.join(directory, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise kernel_error(exc.errno or 0, "open", exc.filename or directory, f"ingest {ref!r}") from exc
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise Conflict(f"ingest {ref!r} is being written by another writer", field="ref") from None
        try:
            self._prepare_ingest(directory, ref, expected)
            return LocalWriter(self, ref, directory, lock_fd, algorithm, expected)
        except BaseException as exc:
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                # a full disk: what the ingest made goes at once, as after a failed write (LocalWriter._fail)
                _remove_ingest(directory, ignore_errors=True)
            os.close(lock_fd)
            if isinstance(exc, OSError):
                raise kernel_error(exc.errno or 0, "write", exc.filename or directory, f"ingest {ref!r}") from exc
            raise

    def _prepare_ingest(self, directory: str, ref: str, expected: Descriptor | None) -> None:
        want = expected.digest if expected else ""
        if _read_text(os.path.join(directory, "ref")) == ref and (_read_text(os.path.join(directory, "expected")) or "") == want:
            return  # resume
        for name in ("data", "expected", "total"):
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                pass
        _write_atomic(os.path.join(directory, "ref"), ref.encode())
        _write_atomic(os.path.join(directory, "startedat"), repr(time.time()).encode())
        if expected is not None:
            _write_atomic(os.path.join(directory, "expected"), expected.digest.encode())
            _write_atomic(os.path.join(directory, "total"), str(expected.size).encode())

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self._blob_path(digest))
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found", field="digest") from None
        self._write_labels(digest, {})

    def walk(self) -> Iterator[Info]:
        blobs = os.path.join(self.root, "blobs")
        for algorithm in sorted(os.listdir(blobs)):
            if algorithm not in digests.ALGORITHMS:
                continue
            for encoded in sorted(os.listdir(os.path.join(blobs, algorithm))):
                try:
                    yield self.info(f"{algorithm}:{encoded}")
                except (NotFound, InvalidArgument):
                    continue  # deleted meanwhile, or a stray file that is not a blob

    def set_labels(self, digest: str, labels: dict[str, str]) -> None:
        self.info(digest)
        for key, value in labels.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidArgument("labels map strings to strings", field="labels")
        self._write_labels(digest, dict(labels))

    def statuses(self) -> list[Status]:
        out = []
        ingest = os.path.join(self.root, "ingest")
        for name in sorted(os.listdir(ingest)):
            directory = os.path.join(ingest, name)
            ref = _read_text(os.path.join(directory, "ref"))
            if ref is None:
                continue
            try:
                st = os.stat(os.path.join(directory, "data"))
                offset, updated = st.st_size, st.st_mtime
            except FileNotFoundError:
                offset, updated = 0, 0.0
            started = float(_read_text(os.path.join(directory, "startedat")) or 0)
            total = int(_read_text(os.path.join(directory, "total")) or 0)
            expected = _read_text(os.path.join(directory, "expected"))
            out.append(Status(ref, offset, total, expected, started, updated or started))
        return out

    def abort(self, ref: str) -> None:
        directory = self._ingest_dir(ref)
        if not os.path.isdir(directory):
            raise NotFound(f"no ingest {ref!r}", field="ref")
        _remove_ingest(directory)
