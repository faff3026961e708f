"""The build cache: a layer made once is reused when a step would make it again.

Building the same Dockerfile twice should not run the same ``RUN`` twice. A step's result is
fully determined by its **inputs**, so the cache is a table from a **key**, the sha256 of those
inputs, to the layer the step made:

* the **parent**: the chain ID of the layers below (the root the step runs on, or copies into);
* the **instruction after expansion**: for ``RUN`` the command, its environment (ENV and ARG
  values), user, working directory and network; for ``COPY``/``ADD`` the destination,
  ``--chown``/``--chmod`` and where the files come from;
* for ``COPY``/``ADD``, the **digest of the files** (:func:`boxen.image.build.context.digest_sources`),
  so changing a file in the context invalidates that step and every step after it (their
  parent chain ID changes), while touching it does not.

A hit reuses the committed snapshot (named by the layer's chain ID) and the layer blob in the
content store, and records the history entry's original time, so a build whose every step hits
produces the very same image. Entries live in SQLite beside the other stores
(``<root>/build/cache.db``); an entry whose snapshot or blob was garbage-collected since is a
miss, and is dropped.

To digest a large context quickly, the digest of each context file is remembered with its
inode, size, modification and change times (as BuildKit does): a file whose times did not move
is not read again.

The table is only a cache, so it is written without ``fsync`` (``synchronous=OFF``): a build
does not wait for the disk to record a hint, and what a crash loses is rebuilt on the next
miss. A file damaged by a crash is discarded and started afresh.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable

from boxen.common import jsonio
from boxen.common.record import Record
from boxen.oci.image import Descriptor

_SCHEMA = """
CREATE TABLE IF NOT EXISTS layers (
    key        TEXT PRIMARY KEY,
    chain_id   TEXT NOT NULL,
    diff_id    TEXT NOT NULL,
    media_type TEXT NOT NULL,
    digest     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created    TEXT NOT NULL,
    stored     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    path   TEXT PRIMARY KEY,
    device INTEGER NOT NULL,
    inode  INTEGER NOT NULL,
    size   INTEGER NOT NULL,
    mtime  INTEGER NOT NULL,
    ctime  INTEGER NOT NULL,
    digest TEXT NOT NULL
);
"""


class CacheEntry(Record):
    """A cached step result: the layer (its blob descriptor and diff ID), the snapshot that holds
    it unpacked (``chain_id``), and the step's history entry (``created_by`` at ``created``)."""

    key: str
    chain_id: str
    diff_id: str
    layer: Descriptor
    created_by: str
    created: str


def cache_key(parent: str | None, kind: str, inputs: dict) -> str:
    """The key of a step of ``kind`` (``RUN``, ``COPY``, ``ADD``) on ``parent`` with ``inputs``."""
    document = jsonio.dumps({"parent": parent or "", "kind": kind, "inputs": inputs})
    # (a Dockerfile that is not UTF-8 is read with surrogateescape: its bytes go back as they were)
    return "sha256:" + hashlib.sha256(document.encode("utf-8", "surrogateescape")).hexdigest()


class BuildCache:
    """The cache table (see the module docstring); safe to share between processes."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            self._db = self._open(path)
        except sqlite3.DatabaseError:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.unlink(path + suffix)
            self._db = self._open(path)

    @staticmethod
    def _open(path: str) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def get(self, key: str) -> CacheEntry | None:
        row = self._db.execute(
            "SELECT key, chain_id, diff_id, media_type, digest, size, created_by, created FROM layers WHERE key = ?",
            (key,)).fetchone()
        if row is None:
            return None
        key, chain_id, diff_id, media_type, digest, size, created_by, created = row
        return CacheEntry(key, chain_id, diff_id, Descriptor(media_type, digest, size), created_by, created)

    def put(self, entry: CacheEntry) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO layers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.key, entry.chain_id, entry.diff_id, entry.layer.mediaType, entry.layer.digest, entry.layer.size,
             entry.created_by, entry.created, time.time()))

    def delete(self, key: str) -> None:
        self._db.execute("DELETE FROM layers WHERE key = ?", (key,))

    def entries(self) -> list[CacheEntry]:
        rows = self._db.execute(
            "SELECT key, chain_id, diff_id, media_type, digest, size, created_by, created FROM layers ORDER BY stored")
        return [CacheEntry(k, c, d, Descriptor(m, g, s), b, t) for k, c, d, m, g, s, b, t in rows]

    def file_digest(self, path: str, st: os.stat_result, compute: Callable[[str], str]) -> str:
        """The digest of the file at ``path``: remembered while its inode, size and times stay the same."""
        identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        row = self._db.execute("SELECT device, inode, size, mtime, ctime, digest FROM files WHERE path = ?",
                               (path,)).fetchone()
        if row is not None and tuple(row[:5]) == identity:
            return row[5]
        digest = compute(path)
        self._db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)", (path, *identity, digest))
        return digest

    def close(self) -> None:
        self._db.close()
