"""The content store: blobs named by their digest, written only if the bytes match the name.

Every part of an image (index, manifest, config, each layer) is a **blob** named by the hash
of its bytes, so a store of blobs needs no other key, a blob shared by two images is kept
once, and a blob fetched from anywhere can be checked against its name. This is containerd's
content store, composed of four small roles:

* **Provider**: :meth:`~ContentStore.info`, :meth:`~ContentStore.reader`,
  :meth:`~ContentStore.path`: read what is committed;
* **Ingester**: :meth:`~ContentStore.writer` opens an *ingest* named by a caller-chosen
  ``ref`` (``layer-sha256:...``); the caller writes bytes and then calls
  :meth:`Writer.commit` with the size and digest it expects. Commit hashes what was written,
  and only when size and digest match does the blob appear under its digest, by one atomic
  rename: a reader never sees half a blob and bytes that do not match are never stored;
* **IngestManager**: :meth:`~ContentStore.statuses` lists ingests in progress and
  :meth:`~ContentStore.abort` drops one. An ingest that is closed without commit stays on
  disk: opening a writer with the same ref later *resumes* at :attr:`Writer.offset` (a
  download continues with an HTTP ``Range`` request);
* **Manager**: :meth:`~ContentStore.walk`, :meth:`~ContentStore.delete` and
  :meth:`~ContentStore.set_labels` (string labels kept beside each blob, e.g. which
  uncompressed digest a layer has).

:class:`~boxen.image.content.local.LocalContentStore` keeps blobs on disk;
:class:`~boxen.image.content.memory.MemoryContentStore` is the in-memory fake for unit tests.
Both pass the suite in :mod:`boxen.image.testing.content`.
"""

from __future__ import annotations

from collections.abc import Iterator

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is costly to load (bench/RESULTS.md), and pull needs it only for checkers
    from typing import BinaryIO, Protocol
else:
    Protocol = object

from boxen.common import digest as digests
from boxen.common.errors import AlreadyExists, InvalidArgument
from boxen.common.record import Record
from boxen.oci.image import Descriptor


class Info(Record):
    """A committed blob: its digest, size, labels, and when it was created and last labelled."""

    digest: str
    size: int
    created: float
    updated: float
    labels: dict[str, str] = None  # type: ignore[assignment]


class Status(Record):
    """An ingest in progress: how far it got and what it expects to become."""

    ref: str
    offset: int
    total: int
    expected: str | None
    started_at: float
    updated_at: float


class Writer(Protocol):
    """One ingest, open for appending. Not thread-safe; one writer per ref at a time."""

    ref: str
    offset: int

    def write(self, data: bytes) -> int: ...

    def commit(self, size: int, digest: str, labels: dict[str, str] | None = None) -> None:
        """Verify ``size`` (0: any) and ``digest``, then publish the blob atomically.

        Raises ``InvalidArgument`` (and drops the ingest) when the bytes do not match,
        ``FailedPrecondition`` (keeping the ingest to resume) when fewer bytes were written
        than ``size``. Committing bytes that are already stored succeeds.
        """

    def close(self) -> None:
        """Release the ingest without committing it; it can be resumed later."""

    def __enter__(self) -> Writer: ...

    def __exit__(self, *exc: object) -> None: ...


class ContentStore(Protocol):
    """Provider + Ingester + IngestManager + Manager (see the module docstring)."""

    def info(self, digest: str) -> Info: ...

    def reader(self, digest: str) -> BinaryIO: ...

    def path(self, digest: str) -> str: ...

    def writer(self, ref: str, expected: Descriptor | None = None) -> Writer: ...

    def delete(self, digest: str) -> None: ...

    def walk(self) -> Iterator[Info]: ...

    def set_labels(self, digest: str, labels: dict[str, str]) -> None: ...

    def statuses(self) -> list[Status]: ...

    def abort(self, ref: str) -> None: ...


def exists(store: ContentStore, digest: str) -> bool:
    """Whether ``digest`` is committed in ``store``."""
    from boxen.common.errors import NotFound

    try:
        store.info(digest)
    except NotFound:
        return False
    return True


def put(store: ContentStore, data: bytes, media_type: str, *, labels: dict[str, str] | None = None,
        algorithm: str = "sha256") -> Descriptor:
    """Store ``data`` (a manifest, a config) and return its descriptor; already stored is fine."""
    digest = digests.of_bytes(data, algorithm)
    descriptor = Descriptor(media_type, digest, len(data))
    try:
        writer = store.writer(f"put-{digest}", descriptor)
    except AlreadyExists:
        if labels:
            store.set_labels(digest, {**(store.info(digest).labels or {}), **labels})
        return descriptor
    if writer.offset:  # a partial write left by an interrupted run: start again
        writer.close()
        store.abort(writer.ref)
        writer = store.writer(writer.ref, descriptor)
    with writer:
        writer.write(data)
        writer.commit(len(data), digest, labels)
    return descriptor


def read(store: ContentStore, digest: str, *, limit: int = 16 << 20) -> bytes:
    """All bytes of a small blob (manifest, config), refusing blobs larger than ``limit``."""
    info = store.info(digest)
    if info.size > limit:
        raise InvalidArgument(f"blob {digest} is {info.size} bytes, more than the {limit} allowed here")
    with store.reader(digest) as f:
        return f.read()
