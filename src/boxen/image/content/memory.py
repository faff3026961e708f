"""An in-memory content store: the fake that unit tests use instead of a directory.

It keeps the same promises as the disk store (verify on commit, resumable ingests, one
writer per ref), so code tested against it behaves the same on disk. It has no on-disk
``path`` for a blob: :meth:`MemoryContentStore.path` raises ``Unimplemented``.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO

from boxen.common import digest as digests
from boxen.common.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unimplemented,
)
from boxen.image.content import Info, Status
from boxen.oci.image import Descriptor


class _Ingest:
    def __init__(self, expected: Descriptor | None) -> None:
        self.data = bytearray()
        self.expected = expected
        self.started = time.time()
        self.updated = self.started
        self.open = False


class MemoryWriter:
    def __init__(self, store: MemoryContentStore, ref: str, ingest: _Ingest) -> None:
        self.ref = ref
        self._store = store
        self._ingest = ingest
        self.offset = len(ingest.data)

    def write(self, data: bytes) -> int:
        expected = self._ingest.expected
        if expected is not None and self.offset + len(data) > expected.size:
            self._store._drop(self.ref)
            raise InvalidArgument(f"{expected.digest}: got more than the {expected.size} bytes declared", field=self.ref)
        self._ingest.data += data
        self._ingest.updated = time.time()
        self.offset += len(data)
        return len(data)

    def commit(self, size: int, digest: str, labels: dict[str, str] | None = None) -> None:
        digests.validate(digest)
        if size and self.offset < size:
            raise FailedPrecondition(f"{self.offset} of {size} bytes written; cannot commit {digest} yet", field=self.ref)
        data = bytes(self._ingest.data)
        actual = digests.of_bytes(data, digest.partition(":")[0])
        if (size and self.offset > size) or actual != digest:
            self._store._drop(self.ref)
            raise InvalidArgument(f"content does not match its digest: expected {digest}, got {actual}", field=self.ref)
        now = time.time()
        with self._store._lock:
            self._store._blobs[digest] = data
            self._store._meta[digest] = (now, now, dict(labels or {}))
            self._store._ingests.pop(self.ref, None)

    def close(self) -> None:
        self._ingest.open = False

    def __enter__(self) -> MemoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemoryContentStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[str, bytes] = {}
        self._meta: dict[str, tuple[float, float, dict[str, str]]] = {}
        self._ingests: dict[str, _Ingest] = {}

    def _drop(self, ref: str) -> None:
        with self._lock:
            self._ingests.pop(ref, None)

    def info(self, digest: str) -> Info:
        digests.validate(digest)
        with self._lock:
            if digest not in self._blobs:
                raise NotFound(f"blob {digest} not found", field="digest")
            created, updated, labels = self._meta[digest]
            return Info(digest, len(self._blobs[digest]), created, updated, dict(labels))

    def reader(self, digest: str) -> BinaryIO:
        self.info(digest)
        return io.BytesIO(self._blobs[digest])

    def path(self, digest: str) -> str:
        raise Unimplemented("the in-memory content store has no file paths", field="digest")

    def writer(self, ref: str, expected: Descriptor | None = None) -> MemoryWriter:
        if not ref:
            raise InvalidArgument("an ingest needs a non-empty ref", field="ref")
        with self._lock:
            if expected is not None and expected.digest in self._blobs:
                raise AlreadyExists(f"blob {expected.digest} already exists", field="digest")
            ingest = self._ingests.get(ref)
            if ingest is not None and ingest.open:
                raise Conflict(f"ingest {ref!r} is being written by another writer", field="ref")
            if ingest is None or (ingest.expected and ingest.expected.digest) != (expected and expected.digest):
                ingest = self._ingests[ref] = _Ingest(expected)
            ingest.open = True
        return MemoryWriter(self, ref, ingest)

    def delete(self, digest: str) -> None:
        self.info(digest)
        with self._lock:
            del self._blobs[digest], self._meta[digest]

    def walk(self) -> Iterator[Info]:
        for digest in sorted(self._blobs):
            try:
                yield self.info(digest)
            except NotFound:
                continue

    def set_labels(self, digest: str, labels: dict[str, str]) -> None:
        self.info(digest)
        for key, value in labels.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidArgument("labels map strings to strings", field="labels")
        with self._lock:
            created, _, _ = self._meta[digest]
            self._meta[digest] = (created, time.time(), dict(labels))

    def statuses(self) -> list[Status]:
        with self._lock:
            return [
                Status(ref, len(i.data), i.expected.size if i.expected else 0, i.expected and i.expected.digest,
                       i.started, i.updated)
                for ref, i in sorted(self._ingests.items())
            ]

    def abort(self, ref: str) -> None:
        with self._lock:
            if self._ingests.pop(ref, None) is None:
                raise NotFound(f"no ingest {ref!r}", field="ref")
